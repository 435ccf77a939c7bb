"""What ``retrain_best`` runs when ``ensemble.size`` > 1: select on the stored out-of-fold predictions, refit.

All trials of a run are cross-validated on the same folds: ``cv_splitter(config)`` splits the run's one
training matrix with the study's seed (``config.seed``; the workers' per-slot seed offsets move only
the samplers), so the candidates' out-of-fold predictions are predictions of the same rows by models
that did not see them, and averaging them row by row is sound. Each candidate is checked to have one
finite prediction per training row (and one column per class) before it is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from automl.config import StudyConfig
from automl.ensemble.estimator import ensemble_estimator
from automl.ensemble.selection import greedy_selection
from automl.ensemble.store import OofStore, oof_folder
from automl.families.space import prepare_frame
from automl.measure import fitting
from automl.metrics import get_metric
from automl.metrics.scoring import score_predictions
from automl.objective import final_pipeline

log = logging.getLogger("automl.ensemble")


@dataclass
class Built:
    """The fitted ensemble and what to report about it."""

    model: Any
    members: dict[int, float]  # trial number -> weight
    oof_score: float
    best_single_oof: float
    candidates: list[int] = field(default_factory=list)

    def summary(self, metric: str) -> dict[str, Any]:
        return {
            "members": [{"trial": n, "weight": w} for n, w in self.members.items()],
            f"oof_{metric}": self.oof_score,
            f"best_single_oof_{metric}": self.best_single_oof,
            "candidates": self.candidates,
        }


def build_ensemble(
    config: StudyConfig, study: optuna.Study, train_path: str, X: pd.DataFrame, y: pd.Series
) -> Built | None:
    """Select an ensemble of the study's stored candidates and fit it on all of (X, y); None (logged) when
    fewer than two candidates are usable or the selection keeps one trial alone."""
    if config.is_multi_objective:
        log.info("ensemble: not built for a multi-objective study (the final model is the configured pick)")
        return None
    store = OofStore(oof_folder(train_path), config.ensemble.max_candidates, config.metric_direction == "maximize")
    classes = np.unique(y.to_numpy()) if config.task == "classification" else None
    shape = (len(y),) if classes is None else (len(y), len(classes))
    numbers, preds = [], []
    for n in store.candidates(study):
        pred = store.load(n, shape)
        if pred is not None:
            numbers.append(n)
            preds.append(pred)
    if len(preds) < 2:
        log.warning(
            "ensemble: %d usable candidate(s) in %s (workers that cannot write there keep none); "
            "the final model is the best trial alone",
            len(preds),
            store.folder,
        )
        return None
    target = y.to_numpy()
    singles = [score_predictions(config.metric, target, p, classes) for p in preds]
    pick = max if get_metric(config.metric).direction == "maximize" else min
    sel = greedy_selection(preds, target, config.metric, config.ensemble.size, classes)
    members = {numbers[i]: float(sel.weights[i]) for i in sel.members}
    log.info(
        "ensemble: %d candidates (trials %s); selected %s, out-of-fold %s %.5f (best single candidate %.5f)",
        len(numbers),
        numbers,
        {n: round(w, 4) for n, w in members.items()},
        config.metric,
        sel.score,
        pick(singles),
    )
    if len(members) < 2:
        log.info("ensemble: the selection kept one trial; the final model is the best trial alone")
        return None
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    estimator = ensemble_estimator(
        config.task,
        [(f"trial_{n}", final_pipeline(config, trials[n])) for n in members],
        list(members.values()),
    )
    with fitting():
        model = estimator.fit(prepare_frame(X), y)
    return Built(model, members, sel.score, float(pick(singles)), numbers)
