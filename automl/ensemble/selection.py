"""Greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew and Ksikes, "Ensemble
Selection from Libraries of Models", ICML 2004), as auto-sklearn and AutoGluon build their final models.

Start from the empty ensemble; in each of ``size`` rounds add the candidate (with replacement: one
already in may be added again) whose addition gives the best score of the averaged predictions;
a candidate's weight is the share of rounds that picked it. The candidates' predictions are
out-of-fold (each row predicted by a fold model that never saw it), so the weights are chosen on
data no candidate was trained on. As Caruana et al. advise, the ensemble returned is the best
prefix of the rounds: its out-of-fold score is never worse than the best single candidate's
(the first round picks that one).

Written here because scikit-learn has no ensemble selection (its ``VotingClassifier`` and
``VotingRegressor`` take weights but do not choose them; ``StackingClassifier`` fits a
meta-model instead); the fitted ensemble is one of those voting estimators (automl.ensemble.estimator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from automl.metrics import get_metric
from automl.metrics.scoring import score_predictions


@dataclass(frozen=True)
class Selection:
    """The outcome: per-candidate weights (summing to 1), the picks in order and the ensemble's score."""

    weights: np.ndarray
    picks: list[int]
    score: float
    #: the score after each round (the picks kept are the best prefix)
    trajectory: list[float] = field(default_factory=list)

    @property
    def members(self) -> list[int]:
        """The candidates with a non-zero weight, in candidate order."""
        return [int(i) for i in np.flatnonzero(self.weights)]


def greedy_selection(
    preds: list[np.ndarray], y: np.ndarray, metric: str, size: int, classes: np.ndarray | None = None
) -> Selection:
    """Select an ensemble of ``preds`` (one array per candidate: class probabilities (n, k) in ``classes``
    order, or values (n,)) for the targets ``y`` in ``size`` rounds; ties go to the earlier candidate."""
    if not preds:
        raise ValueError("ensemble selection needs at least one candidate")
    if size < 1:
        raise ValueError(f"ensemble size must be at least 1, got {size}")
    shape = preds[0].shape
    if any(p.shape != shape for p in preds) or shape[0] != len(y):
        raise ValueError(f"candidates' predictions differ in shape or from the {len(y)} targets")
    sign = 1.0 if get_metric(metric).direction == "maximize" else -1.0
    total = np.zeros(shape)
    picks: list[int] = []
    trajectory: list[float] = []
    best, best_len = -np.inf, 0
    for step in range(1, size + 1):
        gains = []
        for p in preds:
            value = score_predictions(metric, y, (total + p) / step, classes)
            gains.append(sign * value if np.isfinite(value) else -np.inf)
        i = int(np.argmax(gains))  # the first of equal scores
        picks.append(i)
        total += preds[i]
        trajectory.append(sign * gains[i])
        if gains[i] > best:  # strictly better: a tie keeps the smaller ensemble
            best, best_len = gains[i], step
    if best_len == 0:
        raise ValueError("no candidate has a finite score")
    kept = picks[:best_len]
    weights = np.bincount(kept, minlength=len(preds)) / best_len
    return Selection(weights=weights, picks=kept, score=float(sign * best), trajectory=trajectory)
