"""Evaluate one trial's configuration with K-fold cross-validation, and refit the best one.

The trial samples a family and its parameters from the study's model space; the family
cross-validates them (``ModelFamily.cross_validate``: per fold by default, per chunk of
boosting rounds or per epoch for the families that train incrementally), reporting
intermediate values so a pruner can stop a poor trial early. Preprocessing is fitted
inside each training fold. The trial records ``train_steps`` (boosting rounds x folds,
epochs x folds, or folds), the compute it used.

Multi-objective studies (``multi_objective`` in the config) also measure the model's
costs (latency, memory, parameters: automl.measure) on the first fold's model, report the
vector (metric, costs...) at each step in the trial's system attributes (Optuna's
``Trial.report`` is single-objective), and return one value per objective; the worker
turns the measures into Optuna constraint values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pandas as pd

from automl.config import StudyConfig
from automl.families.cv import OutOfFold, cv_splitter
from automl.families.space import ModelSpace, get_family, prepare_frame
from automl.measure import fitting
from automl.pruning.control import mo_report, mo_should_stop

__all__ = [
    "KeepOof",
    "Reporter",
    "cv_splitter",
    "evaluate_darts_trial",
    "evaluate_trial",
    "final_pipeline",
    "fit_final",
]

#: what keeps a completed trial's out-of-fold predictions: (trial number, its value, the predictions)
KeepOof = Callable[[int, float, np.ndarray], None]


class Reporter:
    """Reports a trial's intermediate values and raises ``optuna.TrialPruned`` when it must stop.

    Single-objective: Optuna's ``trial.report`` / ``trial.should_prune`` (the study's pruner).
    Multi-objective: the vector (metric, measured costs) goes to the trial's system attributes
    and the central MO rule decides (automl.pruning.control.mo_should_stop).

    It also keeps the trial's fitting CPU: the trial thread's CPU seconds (``time.thread_time``; trials
    train one thread each) since it was made, less those spent in :meth:`report` (the storage writes and
    reads and the pruning check), as the ``fit_cpu_s`` user attribute.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        config: StudyConfig,
        started: float,
        prunable: bool = True,
        oof: OutOfFold | None = None,
    ) -> None:
        self.trial, self.config, self.started, self.prunable = trial, config, started, prunable
        self.costs: dict[str, float] = {}  # the latest measured costs (multi-objective only)
        self._oof = oof
        self.cpu_started, self.outside_cpu = time.thread_time(), 0.0

    def fit_cpu_s(self) -> float:
        """The trial thread's CPU seconds since this reporter was made, outside :meth:`report`."""
        return time.thread_time() - self.cpu_started - self.outside_cpu

    @property
    def oof(self) -> OutOfFold | None:
        return self._oof

    @property
    def wants_costs(self) -> bool:
        return self.config.is_multi_objective

    def report(self, step: int, value: float, steps_used: int) -> None:
        fit_cpu, entered = self.fit_cpu_s(), time.thread_time()
        try:
            self._report(step, value, steps_used, fit_cpu)
        finally:
            self.outside_cpu += time.thread_time() - entered

    def _report(self, step: int, value: float, steps_used: int, fit_cpu: float) -> None:
        if self.config.is_multi_objective:
            vector = [value if n == self.config.metric else self.costs[n] for n in self.config.objective_names]
            mo_report(self.trial, step, vector)
            stop = mo_should_stop(self.trial, self.config)
        else:
            self.trial.report(value, step=step)
            stop = self.trial.should_prune()
        if stop and self.prunable:
            self.trial.set_user_attr("pruned_at_step", step)
            self.trial.set_user_attr("train_steps", steps_used)
            self.trial.set_user_attr("train_seconds", time.perf_counter() - self.started)
            self.trial.set_user_attr("fit_cpu_s", fit_cpu)
            if self.costs:
                self.trial.set_user_attr("measures", {**self.costs, self.config.metric: value})
            raise optuna.TrialPruned(f"pruned at step {step} with mean {value:.5f}")

    def measure(self, costs: dict[str, float]) -> None:
        self.costs = costs


def evaluate_trial(
    trial: optuna.Trial,
    config: StudyConfig,
    X: pd.DataFrame,
    y: pd.Series,
    prunable: bool = True,
    keep_oof: KeepOof | None = None,
) -> float | list[float]:
    """Sample a configuration, cross-validate it with intermediate reports; return its score
    (multi-objective: one value per objective, and the measures in the ``measures`` user attribute).

    ``keep_oof`` (single-objective studies that build an ensemble): called with the trial's out-of-fold
    predictions when its cross-validation completes. Raises ``optuna.TrialPruned`` when the trial is told to stop.
    """
    name, params = ModelSpace.of(config).suggest(trial)
    family = get_family(name)
    params = {**params, **family.fixed_params(config)}
    X = prepare_frame(X)
    started = time.perf_counter()
    oof = OutOfFold(y, config.task) if keep_oof is not None and not config.is_multi_objective else None
    reporter = Reporter(trial, config, started, prunable, oof)
    value = family.cross_validate(trial, config, params, X, y, reporter)
    trial.set_user_attr("train_seconds", time.perf_counter() - started)
    trial.set_user_attr("fit_cpu_s", reporter.fit_cpu_s())
    if not config.is_multi_objective:
        if oof is not None and keep_oof is not None:
            keep_oof(trial.number, value, oof.pred)
        return value
    measures = {**reporter.costs, config.metric: value}
    trial.set_user_attr("measures", measures)
    return [measures[n] for n in config.objective_names]


def final_pipeline(config: StudyConfig, trial: optuna.trial.FrozenTrial) -> Any:
    """A finished trial's configuration as the unfitted pipeline its refit on all rows trains."""
    name, params = ModelSpace.of(config).from_params(trial.params)
    family = get_family(name)
    params = {**params, **family.final_params(config, trial), **family.fixed_params(config)}
    return family.pipeline(params, config.task, config.seed)


def fit_final(config: StudyConfig, trial: optuna.trial.FrozenTrial, X: pd.DataFrame, y: pd.Series) -> Any:
    """Fit a finished trial's configuration on all of (X, y)."""
    pipeline = final_pipeline(config, trial)
    with fitting():
        return pipeline.fit(prepare_frame(X), y)


def evaluate_darts_trial(
    trial: optuna.Trial, config: StudyConfig, X: pd.DataFrame, y: pd.Series
) -> float | list[float]:
    """The DARTS trial: search the supernet on the training rows (automl.nas.darts), fix the derived
    architecture as the trial's parameters, then cross-validate it like any trial (never pruned: it
    is the solver's one answer). The supernet's curve and summary go to the trial's user attributes
    (the MLflow child run shows the curve); ``darts_train_samples`` is its compute."""
    from automl.nas.darts import search
    from automl.samplers import FixedParamsSampler

    sampler = trial.study.sampler
    if not isinstance(sampler, FixedParamsSampler):
        raise TypeError("a DARTS trial needs the study opened with nas.solver: darts (FixedParamsSampler)")
    trial.set_user_attr("solver", "darts")  # the pruning manager leaves it alone (automl.pruning.control)
    family = get_family(config.model_space[0])
    X = prepare_frame(X)
    pre = family.pipeline({}, config.task, config.seed).named_steps["pre"]
    result = search(config, pre.fit_transform(X), y.to_numpy(), positions=getattr(family, "positions", 3))
    trial.set_user_attr("darts", result.summary())
    trial.set_user_attr("darts_curve", result.curve)
    trial.set_user_attr("darts_train_samples", result.train_samples)
    trial.set_user_attr("darts_seconds", result.seconds)
    sampler.fixed = dict(result.params)
    try:
        return evaluate_trial(trial, config, X, y, prunable=False)
    finally:
        sampler.fixed = {}
