"""Evaluate one trial's configuration with K-fold cross-validation.

Intermediate values are reported so a pruner can stop a poor trial early:

- LightGBM: the K fold boosters are trained side by side in chunks of
  ``budget.report_every`` boosting rounds; after each chunk the mean validation
  score is reported at step = rounds so far (the resource ASHA's rungs count).
  Training stops early when the score has not improved for
  ``budget.early_stopping_rounds``; the trial's value is the best mean score and
  its round count is kept for the final fit.
- torch MLP: the K fold networks train side by side one epoch at a time; the
  mean validation score is reported at step = epoch (early stopping on epochs).
- other families: one report per fold (the mean of the folds so far).

Preprocessing is fitted inside each training fold. The trial records
``train_steps`` (boosting rounds x folds, or folds), the compute it used.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import LabelEncoder

from automl.config import StudyConfig
from automl.metrics import CLASS_METRICS, score, score_predictions
from automl.spaces import FAMILIES, LightGBMFamily, ModelSpace, prepare_frame


def cv_splitter(config: StudyConfig) -> KFold | StratifiedKFold:
    k = config.budget.cv_folds
    if config.task == "classification":
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed)
    return KFold(n_splits=k, shuffle=True, random_state=config.seed)


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def _prune(trial: optuna.Trial, step: int, steps_used: int, started: float, mean: float) -> None:
    if trial.should_prune():
        trial.set_user_attr("pruned_at_step", step)
        trial.set_user_attr("train_steps", steps_used)
        trial.set_user_attr("train_seconds", time.perf_counter() - started)
        raise optuna.TrialPruned(f"pruned at step {step} with mean {mean:.5f}")


def _cv_per_fold(
    trial: optuna.Trial,
    config: StudyConfig,
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    started: float,
) -> float:
    pipe = FAMILIES[family].pipeline(params, config.task, config.seed)
    scores: list[float] = []
    for fold, (tr, va) in enumerate(cv_splitter(config).split(X, y), start=1):
        model = clone(pipe).fit(X.iloc[tr], y.iloc[tr])
        scores.append(score(config.metric, model, X.iloc[va], y.iloc[va]))
        mean = float(np.mean(scores))
        trial.report(mean, step=fold)
        _prune(trial, fold, fold, started, mean)
    trial.set_user_attr("fold_scores", scores)
    trial.set_user_attr("train_steps", len(scores))
    return float(np.mean(scores))


def _cv_lightgbm(
    trial: optuna.Trial, config: StudyConfig, params: dict[str, Any], X: pd.DataFrame, y: pd.Series, started: float
) -> float:
    import lightgbm as lgb

    family = FAMILIES["lightgbm"]
    assert isinstance(family, LightGBMFamily)
    b = config.budget
    maximize = config.metric_direction == "maximize"
    classes: np.ndarray | None = None
    y_enc: np.ndarray = y.to_numpy()
    if config.task == "classification":
        enc = LabelEncoder().fit(y)
        y_enc = enc.transform(y)
        classes = np.arange(len(enc.classes_))
    native = family.native_params(params, config.task, 0 if classes is None else len(classes), config.seed)
    pre = family.pipeline(params, config.task, config.seed).named_steps["pre"]
    folds = []
    for tr, va in cv_splitter(config).split(X, y):
        p = clone(pre).fit(X.iloc[tr])
        booster = lgb.Booster(native, lgb.Dataset(p.transform(X.iloc[tr]), y_enc[tr], params={"verbosity": -1}))
        folds.append((booster, p.transform(X.iloc[va]), y_enc[va]))
    rounds, best, best_rounds, curve = 0, None, 0, []
    while rounds < b.max_rounds:
        chunk = min(b.report_every, b.max_rounds - rounds)
        fold_scores = []
        for booster, X_va, y_va in folds:
            for _ in range(chunk):
                booster.update()
            pred = np.asarray(booster.predict(X_va, num_threads=1))  # all-core OpenMP here stalls under load
            if config.metric in CLASS_METRICS and pred.ndim == 1:
                pred = np.column_stack([1.0 - pred, pred])
            fold_scores.append(score_predictions(config.metric, y_va, pred, classes))
        rounds += chunk
        mean = float(np.mean(fold_scores))
        curve.append(mean)
        if best is None or _better(mean, best, maximize):
            best, best_rounds = mean, rounds
        trial.report(mean, step=rounds)
        _prune(trial, rounds, rounds * len(folds), started, mean)
        if rounds - best_rounds >= b.early_stopping_rounds:
            break
    trial.set_user_attr("best_rounds", best_rounds)
    trial.set_user_attr("train_steps", rounds * len(folds))
    assert best is not None
    return best


def _cv_torch(
    trial: optuna.Trial, config: StudyConfig, params: dict[str, Any], X: pd.DataFrame, y: pd.Series, started: float
) -> float:
    b = config.budget
    maximize = config.metric_direction == "maximize"
    pipe = FAMILIES["torch_mlp"].pipeline({**params, "epochs": b.max_epochs}, config.task, config.seed)
    folds = []
    for tr, va in cv_splitter(config).split(X, y):
        pre = clone(pipe.named_steps["pre"]).fit(X.iloc[tr])
        net = clone(pipe.named_steps["model"])
        folds.append(
            (
                net,
                net.iter_fit(pre.transform(X.iloc[tr]), y.iloc[tr].to_numpy()),
                pre.transform(X.iloc[va]),
                y.iloc[va].to_numpy(),
            )
        )
    best, best_epoch, epoch = None, 0, 0
    for epoch in range(1, b.max_epochs + 1):
        fold_scores = []
        for net, steps, X_va, y_va in folds:
            next(steps)
            raw = net.predict_proba(X_va)
            fold_scores.append(
                score_predictions(config.metric, y_va, raw, net.classes_ if config.task == "classification" else None)
            )
        mean = float(np.mean(fold_scores))
        if not np.isfinite(mean):
            mean = float("nan")
        elif best is None or _better(mean, best, maximize):
            best, best_epoch = mean, epoch
        trial.report(mean, step=epoch)
        _prune(trial, epoch, epoch * len(folds), started, mean)
        if epoch - best_epoch >= b.early_stopping_epochs:
            break
    if best is None:
        raise ValueError("the network's validation score was never finite")
    trial.set_user_attr("best_epochs", best_epoch)
    trial.set_user_attr("train_steps", epoch * len(folds))
    return best


def evaluate_trial(trial: optuna.Trial, config: StudyConfig, X: pd.DataFrame, y: pd.Series) -> float:
    """Sample a configuration, cross-validate it with intermediate reports; return its score.

    Raises ``optuna.TrialPruned`` when the trial is told to stop.
    """
    family, params = ModelSpace(config.model_space).suggest(trial)
    X = prepare_frame(X)
    started = time.perf_counter()
    if family == "lightgbm":
        value = _cv_lightgbm(trial, config, params, X, y, started)
    elif family == "torch_mlp":
        value = _cv_torch(trial, config, params, X, y, started)
    else:
        value = _cv_per_fold(trial, config, family, params, X, y, started)
    trial.set_user_attr("train_seconds", time.perf_counter() - started)
    return value


def fit_final(config: StudyConfig, trial: optuna.trial.FrozenTrial, X: pd.DataFrame, y: pd.Series) -> Any:
    """Fit a finished trial's configuration on all of (X, y)."""
    space = ModelSpace(config.model_space)
    family, params = space.from_params(trial.params)
    if family == "lightgbm":
        # the round count that early stopping chose under CV
        params = {**params, "n_estimators": int(trial.user_attrs.get("best_rounds", config.budget.max_rounds))}
    elif family == "torch_mlp":
        params = {**params, "epochs": int(trial.user_attrs.get("best_epochs", config.budget.max_epochs))}
    return space.pipeline(family, params, config.task, config.seed).fit(prepare_frame(X), y)
