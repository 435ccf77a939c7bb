"""Pruning against the study storage: the signal, the worker's check and the sensor's pass.

- The **signal** is a trial system attribute (``automl:stop`` = reason). The
  sensor writes it; a worker sees it at its next report (``trial.should_prune()``
  reads the trial from the storage) and ends its trial PRUNED. Enforcement that
  does not rely on the worker keys on the same attribute and on the time it
  was written (``automl:stop_at``): :func:`overdue_stops` lists trials still
  running a grace period after their signal, :func:`force_prune` ends one
  PRUNED. What actually stops the process (deleting its Kubernetes pod) is the
  caller's, so the signal and its enforcement stay separate.
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
from automl.families.space import first_rung, max_resource
from automl.multiobjective.study import maximize_flags
from automl.pruning.asha import ASHAPruner, HyperbandPruner
from automl.pruning.base import CentralPruner, Decision, TrialCurve
from automl.pruning.median import MedianPruner
from automl.pruning.moasha import MOASHAPruner, VectorCurve
from automl.storage import ORPHAN_KEY, compat, orphan_trials, stale_trial_ids

STOP_KEY = "automl:stop"
STOP_AT_KEY = "automl:stop_at"
FORCED_KEY = "automl:force_pruned"
PASSED_PREFIX = "automl:passed_rung_"
MO_PREFIX = "automl:mo_step_"  # multi-objective intermediate vectors (Trial.report is single-objective)


def make_rule(config: StudyConfig) -> CentralPruner | None:
    p = config.pruning
    if p.rule == "none":
        return None
    if p.rule == "asha":
        return ASHAPruner(first_rung(config), p.reduction_factor, p.min_trials_at_rung, p.rung_value)
    if p.rule == "median":
        return MedianPruner(n_startup_trials=p.n_startup_trials)
    if p.rule == "hyperband":
        return HyperbandPruner(
            first_rung(config),
            max(max_resource(config), first_rung(config)),
            p.reduction_factor,
            p.min_trials_at_rung,
            p.rung_value,
        )
    raise ValueError(f"unknown pruning rule {p.rule!r}")


def curve_of(t: FrozenTrial) -> TrialCurve:
    passed = frozenset(int(k[len(PASSED_PREFIX) :]) for k in t.system_attrs if k.startswith(PASSED_PREFIX))
    return TrialCurve(t.number, dict(t.intermediate_values), t.state.name, passed)


def _record(study: optuna.Study, trial: FrozenTrial, decision: Decision) -> None:
    storage = compat.study_storage(study)
    try:
        for rung in decision.passed:
            storage.set_trial_system_attr(compat.trial_id(trial), f"{PASSED_PREFIX}{rung}", True)
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # the trial ended between our read and this write: nothing to decide any more
    if decision.stop:
        signal_stop(study, trial, decision.reason or "pruned")


def signal_stop(study: optuna.Study, trial: FrozenTrial, reason: str, now: float | None = None) -> bool:
    """Tell a running trial to stop: the reason, and when it was said (for enforcement).

    Returns False when the trial ended meanwhile (its worker told a result first): no signal needed.
    """
    storage = compat.study_storage(study)
    try:
        storage.set_trial_system_attr(compat.trial_id(trial), STOP_AT_KEY, time.time() if now is None else now)
        storage.set_trial_system_attr(compat.trial_id(trial), STOP_KEY, reason)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


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
    return study.directions[0] == optuna.study.StudyDirection.MAXIMIZE


# ------------------------------------------------------------------ multi-objective
def make_mo_rule(config: StudyConfig) -> MOASHAPruner | None:
    """MO-ASHA for a multi-objective study (None when pruning is off); cost constraints become rung limits."""
    mo, p = config.multi_objective, config.pruning
    if mo is None or p.rule == "none":
        return None
    names = config.objective_names
    limits = {names.index(n): (op, b) for n, op, b in mo.parsed_constraints() if n in names and n != config.metric}
    return MOASHAPruner(first_rung(config), p.reduction_factor, p.min_trials_at_rung, limits)


def mo_curve_of(t: FrozenTrial) -> VectorCurve:
    passed = frozenset(int(k[len(PASSED_PREFIX) :]) for k in t.system_attrs if k.startswith(PASSED_PREFIX))
    values = {int(k[len(MO_PREFIX) :]): tuple(v) for k, v in t.system_attrs.items() if k.startswith(MO_PREFIX)}
    return VectorCurve(t.number, values, t.state.name, passed)


def mo_report(trial: optuna.Trial, step: int, vector: list[float]) -> None:
    """Record a multi-objective trial's vector at ``step`` in the study storage."""
    compat.study_storage(trial.study).set_trial_system_attr(
        compat.trial_id(trial), f"{MO_PREFIX}{step}", [float(v) for v in vector]
    )


def mo_should_stop(trial: optuna.Trial, config: StudyConfig) -> bool:
    """The worker's check at a report: the sensor's stop signal, or (``worker_check``) MO-ASHA right now."""

    study = trial.study
    me = compat.study_storage(study).get_trial(compat.trial_id(trial))
    if STOP_KEY in me.system_attrs:
        return True
    rule = make_mo_rule(config) if config.pruning.worker_check else None
    curve = mo_curve_of(me)
    if rule is None or not rule.pending(curve):
        return False
    others = [mo_curve_of(t) for t in study.get_trials(deepcopy=False)]
    decision = rule.judge(curve, others, maximize_flags(config))
    _record(study, me, decision)
    return decision.stop


def make_worker_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    p = config.pruning
    if p.rule == "none":
        return SignalPruner(None)  # still honours the time-budget stop signal
    if p.mode == "central":
        return SignalPruner(make_rule(config) if p.worker_check else None)
    if p.rule == "median":
        return optuna.pruners.MedianPruner(**{"n_startup_trials": p.n_startup_trials, **p.options})
    if p.rule == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            **{"min_resource": first_rung(config), "reduction_factor": p.reduction_factor, **p.options}
        )
    return optuna.pruners.HyperbandPruner(
        **{
            "min_resource": first_rung(config),
            "max_resource": max_resource(config),
            "reduction_factor": p.reduction_factor,
            **p.options,
        }
    )


PRUNER_CLASSES: dict[str, type[optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "asha": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


def check_pruner_options(config: StudyConfig) -> list[str]:
    """One line per ``pruning.options`` key that the rule's Optuna pruner does not take."""
    p = config.pruning
    if not p.options or p.rule not in PRUNER_CLASSES:
        return []
    import inspect

    cls = PRUNER_CLASSES[p.rule]
    names = set(inspect.signature(cls).parameters)
    return [f"pruning.options.{k}: {cls.__name__} takes no argument {k!r}" for k in p.options if k not in names]


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
    storage = compat.study_storage(study)
    try:
        storage.set_trial_system_attr(compat.trial_id(trial), "automl:failed_reason", reason)
        if not storage.set_trial_state_values(compat.trial_id(trial), state=TrialState.FAIL):
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


def deadline_holds(config: StudyConfig, deadline: float | None, now: float, trials: list[FrozenTrial]) -> bool:
    """Whether the study's deadline stops trials now: it has passed and, under an end-to-end budget
    (``budget.total_s``), a first trial has completed. A run with ``total_s`` always ends with a model: when
    loading and features spent the budget, the first trials run to the end (the run is late, not empty).
    ``trials``: the study's trials (at least its completed ones)."""
    if deadline is None or now < float(deadline):
        return False
    return not config.budget.total_s or any(t.state == TrialState.COMPLETE for t in trials)


def enforce(study: optuna.Study, config: StudyConfig, now: float | None = None) -> EnforceReport:
    """One pass of the pruning manager over the study (the sensor calls this every poll)."""
    now = time.time() if now is None else now
    report = EnforceReport()
    storage = compat.study_storage(study)
    # 1. stale heartbeats -> FAIL + one retry of the same parameters
    for trial_id in stale_trial_ids(study, config.pruning.stale_after_s, now):
        t = storage.get_trial(trial_id)
        if fail_and_retry(study, t, f"no heartbeat for {config.pruning.stale_after_s} s"):
            report.stale_failed.append(t.number)
    # ... and leftovers of an ask interrupted by a storage outage: failed, not retried (nothing ran;
    # the slot asked again), and not counted against the budget
    for t in orphan_trials(study, config.pruning.stale_after_s, now):
        try:
            storage.set_trial_system_attr(compat.trial_id(t), ORPHAN_KEY, True)
            storage.set_trial_system_attr(compat.trial_id(t), "automl:failed_reason", "orphan of an interrupted ask")
            storage.set_trial_state_values(compat.trial_id(t), state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    # 2. the time budget
    deadline = study.user_attrs.get("deadline")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if config.budget.total_s else []
    if deadline_holds(config, deadline, now, complete):
        report.budget_spent = True
        for t in running:
            if STOP_KEY not in t.system_attrs:
                if signal_stop(study, t, "time budget spent", now):
                    report.stopped[t.number] = "time budget spent"
        return report
    # 3. the pruning rule (not for a DARTS trial: it is the solver's one answer, cross-validated to the end)
    running = [t for t in running if t.user_attrs.get("solver") != "darts"]
    if config.is_multi_objective:
        _enforce_mo(study, config, running, report)
        return report
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


def _enforce_mo(study: optuna.Study, config: StudyConfig, running: list[FrozenTrial], report: EnforceReport) -> None:

    rule = make_mo_rule(config)
    if rule is None or not running:
        return
    curves = [mo_curve_of(t) for t in study.get_trials(deepcopy=False)]
    for t in running:
        if STOP_KEY in t.system_attrs:
            continue
        decision = rule.judge(mo_curve_of(t), curves, maximize_flags(config))
        _record(study, t, decision)
        if decision.stop:
            report.stopped[t.number] = decision.reason


def overdue_stops(study: optuna.Study, grace_s: float, now: float | None = None) -> list[FrozenTrial]:
    """Running trials told to stop at least ``grace_s`` seconds ago: their worker ignores the signal
    (or is stuck), so the caller should stop the process itself and then :func:`force_prune` them."""
    now = time.time() if now is None else now
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        said = t.system_attrs.get(STOP_AT_KEY)
        if STOP_KEY in t.system_attrs and said is not None and now - float(said) >= grace_s:
            out.append(t)
    return out


def force_prune(study: optuna.Study, trial: FrozenTrial | optuna.Trial, how: str) -> bool:
    """End a trial that ignored its stop signal as PRUNED (its intermediate values stay).

    Returns False when the trial had already ended (its worker told a result in time):
    then the caller must leave its process alone.
    """
    storage = compat.study_storage(study)
    try:
        storage.set_trial_system_attr(compat.trial_id(trial), FORCED_KEY, how)
        return bool(storage.set_trial_state_values(compat.trial_id(trial), state=TrialState.PRUNED))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
