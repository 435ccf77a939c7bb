"""Pruning against the study storage: the signal, the worker's check and the sensor's pass.

- The **signal** is a trial system attribute (``automl:stop`` = reason). The
  sensor writes it; a worker sees it at its next report (``trial.should_prune()``
  reads the trial from the storage) and ends its trial PRUNED. Enforcement that
  does not rely on the worker (deleting a Kubernetes pod) can key on the same
  attribute.
- :func:`enforce` is one pass of the central pruning manager: fail trials whose
  heartbeat went stale (and retry their parameters once), stop every running
  trial when the study's time budget is spent, and apply the rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.config import StudyConfig
from automl.pruning.asha import ASHAPruner, HyperbandPruner
from automl.pruning.base import CentralPruner, Decision, TrialCurve
from automl.pruning.median import MedianPruner
from automl.study import stale_trial_ids

STOP_KEY = "automl:stop"
PASSED_PREFIX = "automl:passed_rung_"


def make_rule(config: StudyConfig) -> CentralPruner | None:
    p = config.pruning
    if p.rule == "none":
        return None
    if p.rule == "asha":
        return ASHAPruner(config.first_rung, p.reduction_factor, p.min_trials_at_rung, p.rung_value)
    if p.rule == "median":
        return MedianPruner(n_startup_trials=p.n_startup_trials)
    if p.rule == "hyperband":
        return HyperbandPruner(
            config.first_rung,
            max(config.max_resource, config.first_rung),
            p.reduction_factor,
            p.min_trials_at_rung,
            p.rung_value,
        )
    raise ValueError(f"unknown pruning rule {p.rule!r}")


def curve_of(t: FrozenTrial) -> TrialCurve:
    passed = frozenset(int(k[len(PASSED_PREFIX) :]) for k in t.system_attrs if k.startswith(PASSED_PREFIX))
    return TrialCurve(t.number, dict(t.intermediate_values), t.state.name, passed)


def _record(study: optuna.Study, trial: FrozenTrial, decision: Decision) -> None:
    storage = study._storage
    for rung in decision.passed:
        storage.set_trial_system_attr(trial._trial_id, f"{PASSED_PREFIX}{rung}", True)
    if decision.stop:
        storage.set_trial_system_attr(trial._trial_id, STOP_KEY, decision.reason or "pruned")


class SignalPruner(optuna.pruners.BasePruner):
    """The worker's pruner: stop when the sensor said so, or (``rule`` given) when
    the same central rule, checked at this report, says so."""

    def __init__(self, rule: CentralPruner | None) -> None:
        self.rule = rule

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if STOP_KEY in trial.system_attrs:
            return True
        if self.rule is None:
            return False
        me = curve_of(trial)
        if not self.rule.pending(me):  # between rungs: nothing to decide, no need to read the study
            return False
        trials = study.get_trials(deepcopy=False)
        decision = self.rule.judge(me, [curve_of(t) for t in trials], _maximize(study))
        _record(study, trial, decision)
        return decision.stop


def _maximize(study: optuna.Study) -> bool:
    return study.direction == optuna.study.StudyDirection.MAXIMIZE


def make_worker_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    p = config.pruning
    if p.rule == "none":
        return SignalPruner(None)  # still honours the time-budget stop signal
    if p.mode == "central":
        return SignalPruner(make_rule(config) if p.worker_check else None)
    if p.rule == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.n_startup_trials)
    if p.rule == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=config.first_rung, reduction_factor=p.reduction_factor
        )
    return optuna.pruners.HyperbandPruner(
        min_resource=config.first_rung, max_resource=config.max_resource, reduction_factor=p.reduction_factor
    )


@dataclass
class EnforceReport:
    stale_failed: list[int] = field(default_factory=list)
    stopped: dict[int, str] = field(default_factory=dict)
    budget_spent: bool = False


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of failed trials whose parameters were retried in another trial."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))
    return out


def fail_and_retry(study: optuna.Study, trial: FrozenTrial, reason: str, max_retry: int = 1) -> bool:
    """Fail a trial whose worker is gone and enqueue its parameters again, at most ``max_retry`` times.

    The retry carries Optuna's ``failed_trial``/``retry_history`` system attributes (as
    ``RetryHeartbeatStaleTrialCallback`` writes them) but none of the failed attempt's
    pruning state. Returns False when another process already ended the trial.
    """
    storage = study._storage
    try:
        storage.set_trial_system_attr(trial._trial_id, "automl:failed_reason", reason)
        if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) <= max_retry:
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={k: v for k, v in trial.user_attrs.items() if k == "slot_key"},
                system_attrs={
                    "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                    "retry_history": history,
                },
            )
        )
    return True


def enforce(study: optuna.Study, config: StudyConfig, now: float | None = None) -> EnforceReport:
    """One pass of the pruning manager over the study (the sensor calls this every poll)."""
    now = time.time() if now is None else now
    report = EnforceReport()
    storage = study._storage
    # 1. stale heartbeats -> FAIL + one retry of the same parameters
    for trial_id in stale_trial_ids(study, config.pruning.stale_after_s, now):
        t = storage.get_trial(trial_id)
        if fail_and_retry(study, t, f"no heartbeat for {config.pruning.stale_after_s} s"):
            report.stale_failed.append(t.number)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    # 2. the time budget
    deadline = study.user_attrs.get("deadline")
    if deadline is not None and now >= deadline:
        report.budget_spent = True
        for t in running:
            if STOP_KEY not in t.system_attrs:
                storage.set_trial_system_attr(t._trial_id, STOP_KEY, "time budget spent")
                report.stopped[t.number] = "time budget spent"
        return report
    # 3. the pruning rule
    rule = make_rule(config) if config.pruning.mode == "central" else None
    if rule is not None and running:
        curves = [curve_of(t) for t in study.get_trials(deepcopy=False)]
        maximize = _maximize(study)
        for t in running:
            if STOP_KEY in t.system_attrs:
                continue
            decision = rule.judge(curve_of(t), curves, maximize)
            _record(study, t, decision)
            if decision.stop:
                report.stopped[t.number] = decision.reason
    return report
