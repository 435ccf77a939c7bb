"""What ``retrain_best`` runs when ``ensemble.size`` > 1: select on the stored out-of-fold predictions, refit.

All trials of a run are cross-validated on the same folds: ``cv_splitter(config)`` splits the run's one
training matrix with the study's seed (``config.seed``; the workers' per-slot seed offsets move only
the samplers), so the candidates' out-of-fold predictions are predictions of the same rows by models
that did not see them, and averaging them row by row is sound. Each candidate is checked to have one
finite prediction per training row (and one column per class) before it is used.

Under an end-to-end budget (``budget.total_s``) the members' refits must fit in the time left
(``seconds_left``): a member's refit on all rows is estimated from its trial's measured training time
(``train_seconds`` over ``cv_folds`` fold fits, each on a ``(k-1)/k`` share of the rows, so one refit on
all rows costs about ``train_seconds / (k - 1)``); while the selected members' estimated refits exceed
the time left, the most expensive of them leaves the candidates and the selection runs again. The
estimate is the one the run has: it was measured on the same machine, minutes earlier.

The best single candidate (by its out-of-fold score) never leaves: its refit is the final model the
run needs anyway (``ensemble.size: 1`` refits the best trial whatever it costs), so the allowance is the
time left or that refit's estimate, whichever is larger, and only the other members are dropped to fit
it. Greedy selection picks the best candidate first, so the ensemble's out-of-fold score stays at least
the best single candidate's. Before this rule, diamonds at 120 s end to end (2026-12-02, aa9d94d, seeds 7
and 9) dropped the best trial, a random forest whose refit was estimated at ~9 s, and registered two
LightGBM trials instead: holdout RMSE 664.8 and 662.9 against 542.5 and 542.1 for the best trial alone.
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


def refit_seconds(config: StudyConfig, trial: optuna.trial.FrozenTrial) -> float:
    """The estimated wall seconds of refitting ``trial``'s configuration on all training rows."""
    folds = config.budget.cv_folds
    return float(trial.user_attrs.get("train_seconds", 0.0)) / max(1, folds - 1)


def build_ensemble(
    config: StudyConfig,
    study: optuna.Study,
    train_path: str,
    X: pd.DataFrame,
    y: pd.Series,
    seconds_left: float | None = None,
) -> Built | None:
    """Select an ensemble of the study's stored candidates and fit it on all of (X, y); None (logged) when
    fewer than two candidates are usable or the selection keeps one trial alone. ``seconds_left``: the
    time the refits may take (module docstring); None: no limit."""
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
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    cost = {n: refit_seconds(config, trials[n]) for n in numbers}
    pool = list(range(len(numbers)))
    best = greedy_selection(preds, target, config.metric, 1, classes).picks[0]  # never dropped
    # the final model needs the best trial's refit in any case
    allowance = None if seconds_left is None else max(seconds_left, cost[numbers[best]])
    while True:
        sel = greedy_selection([preds[i] for i in pool], target, config.metric, config.ensemble.size, classes)
        chosen = [pool[i] for i in sel.members]
        estimate = sum(cost[numbers[i]] for i in chosen)
        others = [i for i in chosen if i != best]
        if allowance is None or estimate <= allowance or not others:
            break
        dropped = max(others, key=lambda i: cost[numbers[i]])
        log.info(
            "ensemble: the members' refits (~%.1f s) exceed the %.1f s allowed (time left of budget.total_s, "
            "or the best trial's refit); trial %d (~%.1f s) leaves the candidates",
            estimate,
            allowance,
            numbers[dropped],
            cost[numbers[dropped]],
        )
        pool.remove(dropped)
    members = {numbers[pool[i]]: float(sel.weights[i]) for i in sel.members}
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
    estimator = ensemble_estimator(
        config.task,
        [(f"trial_{n}", final_pipeline(config, trials[n])) for n in members],
        list(members.values()),
    )
    with fitting():
        model = estimator.fit(prepare_frame(X), y)
    return Built(model, members, sel.score, float(pick(singles)), numbers)
