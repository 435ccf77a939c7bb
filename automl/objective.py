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

Multi-objective studies (``multi_objective`` in the config) also measure the
model's costs (latency, memory, parameters: automl.measure) on the first fold's
model, report the vector (metric, costs...) at each step in the trial's system
attributes (Optuna's ``Trial.report`` is single-objective), and return one value
per objective; the worker turns the measures into Optuna constraint values.
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
from automl.measure import latency_batch, lightgbm_costs, model_costs
from automl.metrics import CLASS_METRICS, score, score_predictions
from automl.spaces import FAMILIES, LightGBMFamily, ModelSpace, fixed_params, prepare_frame

TORCH_FAMILIES = ("torch_mlp", "torch_cnn")


def cv_splitter(config: StudyConfig) -> KFold | StratifiedKFold:
    k = config.budget.cv_folds
    if config.task == "classification":
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed)
    return KFold(n_splits=k, shuffle=True, random_state=config.seed)


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


class Reporter:
    """Reports a trial's intermediate values and raises ``optuna.TrialPruned`` when it must stop.

    Single-objective: Optuna's ``trial.report`` / ``trial.should_prune`` (the study's pruner).
    Multi-objective: the vector (metric, measured costs) goes to the trial's system attributes
    and the central MO rule decides (automl.pruning.control.mo_should_stop).
    """

    def __init__(self, trial: optuna.Trial, config: StudyConfig, started: float) -> None:
        self.trial, self.config, self.started = trial, config, started
        self.costs: dict[str, float] = {}  # the latest measured costs (multi-objective only)

    @property
    def wants_costs(self) -> bool:
        return self.config.is_multi_objective

    def report(self, step: int, value: float, steps_used: int) -> None:
        if self.config.is_multi_objective:
            from automl.pruning.control import mo_report, mo_should_stop

            vector = [value if n == self.config.metric else self.costs[n] for n in self.config.objective_names]
            mo_report(self.trial, step, vector)
            stop = mo_should_stop(self.trial, self.config)
        else:
            self.trial.report(value, step=step)
            stop = self.trial.should_prune()
        if stop:
            self.trial.set_user_attr("pruned_at_step", step)
            self.trial.set_user_attr("train_steps", steps_used)
            self.trial.set_user_attr("train_seconds", time.perf_counter() - self.started)
            if self.costs:
                self.trial.set_user_attr("measures", {**self.costs, self.config.metric: value})
            raise optuna.TrialPruned(f"pruned at step {step} with mean {value:.5f}")

    def measure(self, costs: dict[str, float]) -> None:
        self.costs = costs


def _cv_per_fold(
    trial: optuna.Trial,
    config: StudyConfig,
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    reporter: Reporter,
) -> float:
    pipe = FAMILIES[family].pipeline(params, config.task, config.seed)
    scores: list[float] = []
    for fold, (tr, va) in enumerate(cv_splitter(config).split(X, y), start=1):
        model = clone(pipe).fit(X.iloc[tr], y.iloc[tr])
        scores.append(score(config.metric, model, X.iloc[va], y.iloc[va]))
        mean = float(np.mean(scores))
        if fold == 1 and reporter.wants_costs:
            reporter.measure(model_costs(model, _batch(config, X.iloc[va]), _repeats(config)))
        reporter.report(fold, mean, fold)
    trial.set_user_attr("fold_scores", scores)
    trial.set_user_attr("train_steps", len(scores))
    return float(np.mean(scores))


def _batch(config: StudyConfig, X: Any) -> Any:
    mo = config.multi_objective
    return latency_batch(X, mo.latency_batch_size if mo else 256, config.seed)


def _repeats(config: StudyConfig, final: bool = True) -> int:
    mo = config.multi_objective
    return (mo.latency_repeats if mo else 15) if final else 3


def _cv_lightgbm(
    trial: optuna.Trial, config: StudyConfig, params: dict[str, Any], X: pd.DataFrame, y: pd.Series, reporter: Reporter
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
        one = {"verbosity": -1, "num_threads": 1}  # all-core OpenMP stalls when the slots fill the cores
        train = lgb.Dataset(p.transform(X.iloc[tr]), y_enc[tr], params=one)
        # no built-in metric: the validation fold's predictions are kept up to date by LightGBM as trees
        # are added (eval_valid hands them to our metric), instead of predicting with every tree per report
        booster = lgb.Booster({**native, "metric": "None"}, train)
        X_va = p.transform(X.iloc[va])
        booster.add_valid(lgb.Dataset(X_va, y_enc[va], reference=train, params=one), "validation")
        folds.append((booster, X_va, y_enc[va]))

    def fold_score(pred: np.ndarray, y_va: np.ndarray) -> float:
        if config.metric in CLASS_METRICS and pred.ndim == 1:
            pred = np.column_stack([1.0 - pred, pred])
        return score_predictions(config.metric, y_va, pred, classes)

    rounds, best, best_rounds, curve = 0, None, 0, []
    while rounds < b.max_rounds:
        chunk = min(b.report_every, b.max_rounds - rounds)
        fold_scores = []
        for booster, _, y_va in folds:
            for _ in range(chunk):
                booster.update()
            (result,) = booster.eval_valid(feval=lambda pred, _data, y_va=y_va: ("m", fold_score(pred, y_va), True))
            fold_scores.append(float(result[2]))
        rounds += chunk
        mean = float(np.mean(fold_scores))
        curve.append(mean)
        if best is None or _better(mean, best, maximize):
            best, best_rounds = mean, rounds
        if reporter.wants_costs:  # trees grow with the rounds: measure the first fold's booster now
            reporter.measure(lightgbm_costs(folds[0][0], _batch(config, folds[0][1]), _repeats(config, final=False)))
        reporter.report(rounds, mean, rounds * len(folds))
        if rounds - best_rounds >= b.early_stopping_rounds:
            break
    if reporter.wants_costs:
        booster, X_va, _ = folds[0]
        reporter.measure(lightgbm_costs(booster, _batch(config, X_va), _repeats(config), num_iteration=best_rounds))
    trial.set_user_attr("best_rounds", best_rounds)
    trial.set_user_attr("train_steps", rounds * len(folds))
    assert best is not None
    return best


def _cv_torch(
    trial: optuna.Trial,
    config: StudyConfig,
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    reporter: Reporter,
) -> float:
    b = config.budget
    maximize = config.metric_direction == "maximize"
    pipe = FAMILIES[family].pipeline({**params, "epochs": b.max_epochs}, config.task, config.seed)
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
        if epoch == 1 and reporter.wants_costs:  # the architecture fixes the costs: measure once
            net, _, X_va, _ = folds[0]
            reporter.measure(net.measure(_batch(config, X_va), _repeats(config)))
        reporter.report(epoch, mean, epoch * len(folds))
        if epoch - best_epoch >= b.early_stopping_epochs:
            break
    if best is None:
        raise ValueError("the network's validation score was never finite")
    trial.set_user_attr("best_epochs", best_epoch)
    trial.set_user_attr("train_steps", epoch * len(folds))
    return best


def evaluate_trial(trial: optuna.Trial, config: StudyConfig, X: pd.DataFrame, y: pd.Series) -> float | list[float]:
    """Sample a configuration, cross-validate it with intermediate reports; return its score
    (multi-objective: one value per objective, and the measures in the ``measures`` user attribute).

    Raises ``optuna.TrialPruned`` when the trial is told to stop.
    """
    family, params = ModelSpace(config.model_space).suggest(trial)
    params = {**params, **fixed_params(config, family)}
    X = prepare_frame(X)
    started = time.perf_counter()
    reporter = Reporter(trial, config, started)
    if family == "lightgbm":
        value = _cv_lightgbm(trial, config, params, X, y, reporter)
    elif family in TORCH_FAMILIES:
        value = _cv_torch(trial, config, family, params, X, y, reporter)
    else:
        value = _cv_per_fold(trial, config, family, params, X, y, reporter)
    trial.set_user_attr("train_seconds", time.perf_counter() - started)
    if not config.is_multi_objective:
        return value
    measures = {**reporter.costs, config.metric: value}
    trial.set_user_attr("measures", measures)
    return [measures[n] for n in config.objective_names]


def fit_final(config: StudyConfig, trial: optuna.trial.FrozenTrial, X: pd.DataFrame, y: pd.Series) -> Any:
    """Fit a finished trial's configuration on all of (X, y)."""
    space = ModelSpace(config.model_space)
    family, params = space.from_params(trial.params)
    if family == "lightgbm":
        # the round count that early stopping chose under CV
        params = {**params, "n_estimators": int(trial.user_attrs.get("best_rounds", config.budget.max_rounds))}
    elif family in TORCH_FAMILIES:
        params = {**params, "epochs": int(trial.user_attrs.get("best_epochs", config.budget.max_epochs))}
    params = {**params, **fixed_params(config, family)}
    return space.pipeline(family, params, config.task, config.seed).fit(prepare_frame(X), y)
