"""The pruning manager against a real study storage: stop signals, stale heartbeats, the time budget."""

import time
from pathlib import Path

import optuna
import pytest
from helpers import make_config
from optuna.trial import TrialState

from automl.pruning.control import STOP_KEY, SignalPruner, enforce, retried_numbers
from automl.storage import compat
from automl.study import create_or_open, open_study, progress


def _config(**pruning: object):  # type: ignore[no-untyped-def]
    return make_config(
        model_space=["lightgbm"],
        pruning={"rule": "asha", "min_resource": 10, "reduction_factor": 3, "min_trials_at_rung": 1, **pruning},
    )


def _finished(study: optuna.Study, values: list[float]) -> None:
    for v in values:
        t = study.ask()
        t.suggest_float("lightgbm__learning_rate", 0.01, 0.3, log=True)
        t.report(v, 10)
        study.tell(t, v)


def test_sensor_pass_signals_a_poor_running_trial_and_the_worker_sees_it(automl_home: Path) -> None:
    cfg = _config(worker_check=False)
    create_or_open(cfg, "c1")
    study = open_study(cfg, "c1")
    _finished(study, [0.9, 0.88, 0.86, 0.84, 0.82])
    poor, good = study.ask(), study.ask()
    poor.report(0.5, 10)
    good.report(0.95, 10)
    assert not poor.should_prune()  # the worker alone does not decide (worker_check off)
    report = enforce(study, cfg)
    assert list(report.stopped) == [poor.number] and "rung 0" in report.stopped[poor.number]
    assert poor.should_prune() and not good.should_prune()  # the signal reaches the worker at its next report
    trials = study.get_trials(deepcopy=False)
    assert "automl:passed_rung_0" in trials[good.number].system_attrs
    assert enforce(study, cfg).stopped == {}  # decisions are written once


def test_worker_check_applies_the_same_rule_without_the_sensor(automl_home: Path) -> None:
    cfg = _config(worker_check=True)
    create_or_open(cfg, "c2")
    study = open_study(cfg, "c2")
    assert isinstance(study.pruner, SignalPruner)
    _finished(study, [0.9, 0.88, 0.86, 0.84, 0.82])
    poor = study.ask()
    poor.report(0.5, 10)
    assert poor.should_prune()
    assert STOP_KEY in study.get_trials(deepcopy=False)[poor.number].system_attrs


def test_stale_heartbeat_fails_and_retries_once(automl_home: Path) -> None:
    cfg = _config(heartbeat_interval_s=1, stale_after_s=2)
    create_or_open(cfg, "c3")
    study = open_study(cfg, "c3")
    t = study.ask()
    t.suggest_float("lightgbm__learning_rate", 0.01, 0.3, log=True)
    t.set_user_attr("slot_key", "0:0")
    compat.study_storage(study).record_heartbeat(compat.trial_id(t))  # type: ignore[attr-defined]
    assert enforce(study, cfg).stale_failed == []
    time.sleep(3.1)  # the worker died: no heartbeat for longer than the grace period
    assert enforce(study, cfg).stale_failed == [t.number]
    trials = study.get_trials(deepcopy=False)
    assert trials[t.number].state == TrialState.FAIL
    (retry,) = [x for x in trials if x.state == TrialState.WAITING]
    assert retry.params == trials[t.number].params and retry.system_attrs["retry_history"] == [t.number]
    assert STOP_KEY not in retry.system_attrs
    assert retried_numbers(trials) == {t.number}
    # the retry dies too: failed, not retried again (once only)
    r = study.ask()
    assert r.number == retry.number
    compat.study_storage(study).record_heartbeat(compat.trial_id(r))  # type: ignore[attr-defined]
    time.sleep(3.1)
    assert enforce(study, cfg).stale_failed == [r.number]
    assert not [x for x in study.get_trials(deepcopy=False) if x.state == TrialState.WAITING]
    assert progress(study).failed == 1  # the first failure was retried, the second is a result


def test_spent_time_budget_stops_every_running_trial(automl_home: Path) -> None:
    cfg = make_config(budget={"timeout_s": 60})
    create_or_open(cfg, "c4")
    study = open_study(cfg, "c4")
    a, b = study.ask(), study.ask()
    for i, t in enumerate((a, b)):
        t.set_user_attr("slot_key", f"{i}:0")  # as workers tag them
    assert enforce(study, cfg).stopped == {}
    report = enforce(study, cfg, now=study.user_attrs["deadline"] + 1)
    assert report.budget_spent and set(report.stopped) == {a.number, b.number}
    assert a.should_prune() and b.should_prune()


@pytest.mark.parametrize("rule", ["median", "hyperband"])
def test_other_rules_are_selectable(automl_home: Path, rule: str) -> None:
    from automl.pruning import HyperbandPruner
    from automl.pruning.control import make_rule

    cfg = _config(rule=rule, n_startup_trials=2)
    create_or_open(cfg, f"c5{rule}")
    study = open_study(cfg, f"c5{rule}")
    _finished(study, [0.9, 0.88, 0.86, 0.84, 0.82, 0.8])
    poor = [study.ask() for _ in range(4)]
    for t in poor:
        t.report(0.1, 10)
    stopped = enforce(study, cfg).stopped
    if rule == "median":
        assert set(stopped) == {t.number for t in poor}
    else:
        hb = make_rule(cfg)
        assert isinstance(hb, HyperbandPruner) and len(hb.brackets) == 4  # first rungs 10, 30, 90, 270
        # only the trial in bracket 0 has reached its bracket's first rung (step 10)
        assert set(stopped) == {t.number for t in poor if hb.bracket_of(t.number) == 0} and stopped


def test_a_trial_that_ignores_its_stop_signal_is_enforced_and_ends_pruned(automl_home: Path) -> None:
    """Signal and enforcement are separate: the pass lists the overdue trial, ends it PRUNED and
    calls the stopper (on Kubernetes: delete its pod) once; a trial that obeyed is left alone."""
    from automl.pipeline import RunContext
    from automl.pipeline.artifacts import write_json
    from automl.pipeline.search import pruning_pass
    from automl.pruning.control import STOP_AT_KEY, force_prune, overdue_stops, signal_stop

    cfg = _config(worker_check=False, stop_grace_s=1)
    create_or_open(cfg, "c9")
    study = open_study(cfg, "c9")
    stubborn, obedient = study.ask(), study.ask()
    for t in (stubborn, obedient):
        t.report(0.7, 10)
        signal_stop(study, study.get_trials(deepcopy=False)[t.number], "test says stop")
    assert STOP_AT_KEY in study.get_trials(deepcopy=False)[stubborn.number].system_attrs
    assert overdue_stops(study, grace_s=60) == []  # within the grace period: nothing to enforce yet
    study.tell(obedient, state=TrialState.PRUNED)  # this worker saw the signal and stopped itself
    time.sleep(1.1)
    assert [t.number for t in overdue_stops(study, grace_s=1)] == [stubborn.number]
    config_path = automl_home / "c9.json"
    write_json(config_path, cfg.model_dump(mode="json"))
    stopped: list[int] = []
    ctx = RunContext(str(config_path), "c9")
    out = pruning_pass(ctx, stop_process=lambda t: stopped.append(t.number) or ["pod-x"])
    assert stopped == [stubborn.number] and out.enforced == {str(stubborn.number): ["pod-x"]}
    trial = study.get_trials(deepcopy=False)[stubborn.number]
    assert trial.state == TrialState.PRUNED and "ignored its stop signal" in trial.system_attrs["automl:force_pruned"]
    assert trial.intermediate_values == {10: 0.7}
    # already ended: a second pass does nothing, and force_prune refuses
    assert pruning_pass(ctx, stop_process=lambda t: stopped.append(t.number) or []).enforced == {}
    assert not force_prune(study, trial, "again") and stopped == [stubborn.number]


def test_an_orphan_of_an_interrupted_ask_is_failed_not_retried_nor_counted(automl_home: Path) -> None:
    cfg = _config(heartbeat_interval_s=1, stale_after_s=5)
    create_or_open(cfg, "orphan")
    study = open_study(cfg, "orphan")
    orphan = study.ask()  # created, but its worker never learnt its id: no slot key, no report, no beat
    owned = study.ask()
    owned.set_user_attr("slot_key", "0:0")
    enforce(study, cfg)
    assert study.trials[orphan.number].state == TrialState.RUNNING  # young: could still be tagged
    enforce(study, cfg, now=time.time() + 6)
    trials = study.get_trials(deepcopy=False)
    assert trials[orphan.number].state == TrialState.FAIL and trials[orphan.number].system_attrs["automl:orphan"]
    assert trials[owned.number].state == TrialState.RUNNING  # a slot's trial is the heartbeat check's business
    assert not [t for t in trials if t.state == TrialState.WAITING]  # nothing ran: nothing to retry
    assert progress(study).failed == 0  # and it is not a result against the budget


def test_a_stop_signal_for_a_trial_that_just_ended_is_a_no_op(automl_home: Path) -> None:
    from automl.pruning.control import signal_stop

    cfg = _config()
    create_or_open(cfg, "race")
    study = open_study(cfg, "race")
    t = study.ask()
    frozen = compat.study_storage(study).get_trial(compat.trial_id(t))  # what the sensor read while the trial ran
    study.tell(t, 0.5)  # ... then the worker told its result
    assert signal_stop(study, frozen, "pruned") is False
    assert STOP_KEY not in study.trials[0].system_attrs and study.trials[0].state == TrialState.COMPLETE
