"""No silent partial success: the failure budget, the watcher (``check_search``), slot leases, and slot
tasks that take their worker with them when they are killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, TEST_DAGS
from helpers import make_config
from optuna.trial import TrialState
from sklearn.datasets import load_breast_cancer


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in state  # a zombie runs nothing


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def test_every_trial_failing_stops_at_the_failure_budget_and_fails_the_run(automl_home: Path) -> None:
    from automl.pipeline import RunContext
    from automl.pipeline.search import SearchIncomplete, check_search
    from automl.study import create_or_open
    from automl.worker import run_slot

    config = make_config(budget={"n_trials": 6, "trials_per_slot": 6, "parallelism": 1, "max_failed_trials": 2})
    assert make_config(budget={"n_trials": 6}).budget.failure_budget == 4  # default: more than half
    create_or_open(config, "allfail")
    X, y = _frame()
    run_slot(config, "allfail", 0, X, y * 0)  # one class only: every trial fails
    study = create_or_open(config, "allfail")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2  # stopped at the budget, not after 6
    with pytest.raises(SearchIncomplete, match=r"2 trials failed; the failure budget .* is 2"):
        check_search(RunContext.new(config, "allfail"), None)  # type: ignore[arg-type]


def test_the_watcher_refuses_a_study_short_of_its_trials(automl_home: Path) -> None:
    from automl.pipeline import RunContext
    from automl.pipeline.search import SearchIncomplete, check_search
    from automl.study import create_or_open
    from automl.worker import run_slot

    config = make_config(budget={"n_trials": 4, "trials_per_slot": 2, "parallelism": 1, "cv_folds": 2})
    create_or_open(config, "short")
    X, y = _frame()
    run_slot(config, "short", 0, X, y)  # slot 1 never ran (killed past its retries)
    with pytest.raises(SearchIncomplete, match="only 2 of 4 trials ended") as err:
        check_search(RunContext.new(config, "short"), None)  # type: ignore[arg-type]
    assert "left running" not in str(err.value)
    run_slot(config, "short", 1, X, y)
    checked = check_search(RunContext.new(config, "short"), None)  # type: ignore[arg-type]
    assert (checked.complete, checked.failed, checked.n_trials) == (4, 0, 4)
    # every slot ended but a trial was left running: the error names it and its slot key
    stuck = create_or_open(config, "stuck")
    run_slot(config, "stuck", 0, X, y)
    trial = stuck.ask()
    trial.set_user_attr("slot_key", "1:0")
    with pytest.raises(SearchIncomplete, match=rf"left running: trial {trial.number} \(slot key 1:0\)"):
        check_search(RunContext.new(config, "stuck"), None)  # type: ignore[arg-type]


SLOW = {
    "model_space": ["lightgbm"],
    "budget": {
        # the first worker must outlive the duplicate's wait (one lease period, 8 s): about 1 s a trial here
        "n_trials": 24,
        "trials_per_slot": 24,
        "parallelism": 1,
        "cv_folds": 2,
        "max_rounds": 3000,
        "report_every": 50,
        "early_stopping_rounds": 100000,
    },
    "pruning": {"rule": "none", "heartbeat_interval_s": 1, "stale_after_s": 8},  # slack for a loaded machine
}


def _start_worker(config, tmp_path: Path, name: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    from automl.worker import worker_command

    cfg_path, data = tmp_path / "config.json", tmp_path / "train.parquet"
    cfg_path.write_text(config.model_dump_json())
    X, y = _frame()
    X.assign(target=y).to_parquet(data)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    log = (tmp_path / f"{name}.log").open("w")  # a file, not a pipe: a full pipe would block the worker
    return subprocess.Popen(
        worker_command(name, 0, str(cfg_path), str(data), None),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_running(study, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    while time.time() < end:
        # tagged with its slot: a worker killed between ask and the tag leaves an orphan, which the sensor (not
        # running in these tests) fails; a slot worker alone would wait for it with parallelism 1
        if any(t.state == TrialState.RUNNING and "slot_key" in t.user_attrs for t in study.get_trials(deepcopy=False)):
            return
        time.sleep(0.2)
    raise AssertionError("the first worker never started a trial")


def test_a_live_duplicate_slot_is_refused_and_no_healthy_trial_is_failed(automl_home: Path, tmp_path: Path) -> None:
    from automl.storage.lease import SlotLeaseHeld
    from automl.study import create_or_open
    from automl.worker import run_slot

    config = make_config(**SLOW)
    study = create_or_open(config, "dup")
    first = _start_worker(config, tmp_path, "dup")
    try:
        _wait_running(study)
        X, y = _frame()
        started = time.time()
        with pytest.raises(SlotLeaseHeld, match="held by a live worker"):
            run_slot(config, "dup", 0, X, y)  # the duplicate: waits out one lease period, then is refused
        assert time.time() - started < 30
        assert first.poll() is None, "the first worker must still be running"
        assert first.wait(timeout=300) == 0, (tmp_path / "dup.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    trials = create_or_open(config, "dup").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 24  # nothing failed, nothing run twice


def test_a_dead_workers_slot_is_taken_over_at_once(automl_home: Path, tmp_path: Path) -> None:
    from automl.study import create_or_open
    from automl.worker import run_slot

    config = make_config(
        **{**SLOW, "budget": {**SLOW["budget"], "n_trials": 2, "trials_per_slot": 2, "max_rounds": 200}}
    )
    study = create_or_open(config, "dead")
    first = _start_worker(config, tmp_path, "dead")
    _wait_running(study)
    first.kill()
    first.wait()
    X, y = _frame()
    started = time.time()
    run_slot(config, "dead", 0, X, y)  # same host, holder gone: no wait for the lease to go stale
    trials = create_or_open(config, "dead").trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    assert time.time() - started < 30


TASK = """
import logging, signal, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
from automl_airflow.slots import run_worker
def airflow_like(signum, frame):  # as Airflow's task runner: on SIGTERM the task ends with an exception
    raise SystemExit(143)
signal.signal(signal.SIGTERM, airflow_like)
child = "import time; time.sleep(120)"
run_worker([sys.executable, "-c",
    "import os, subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', %r]); "
    "print('pids', os.getpid(), p.pid, flush=True); time.sleep(120)" % child])
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_a_slot_task_leaves_no_worker_process(sig: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    task = subprocess.Popen([sys.executable, "-c", TASK], stdout=subprocess.PIPE, text=True, env=env)
    assert task.stdout is not None
    pids: list[int] = []
    for line in task.stdout:
        if "pids " in line:
            pids = [int(p) for p in line.split("pids ", 1)[1].split()]
            break
    assert len(pids) == 2, "the worker did not start"
    task.send_signal(sig)
    task.wait(timeout=30)
    end = time.time() + 10
    # SIGTERM: the task kills the worker's process group; SIGKILL: the kernel kills the worker (its child
    # is left to the slot lease and the stale-trial rule)
    watched = pids if sig == signal.SIGTERM else pids[:1]
    while time.time() < end and not all(_gone(p) for p in watched):
        time.sleep(0.1)
    try:
        assert all(_gone(p) for p in watched), f"still alive after the task was killed: {watched}"
    finally:
        for p in pids:
            if not _gone(p):
                os.kill(p, signal.SIGKILL)


KILLED_SLOT = """\
name: killed_slot
dataset: {source: "sklearn:breast_cancer", target: target}
task: classification
metric: roc_auc
model_space: [logistic_regression]
sampler: random
pruning: {rule: none, poke_interval_s: 1}
features: {enabled: false, select: false}
warm_start: {enabled: false}
budget: {n_trials: 2, parallelism: 2, trials_per_slot: 1, cv_folds: 2}
retries: 0
"""


@pytest.mark.slow
def test_a_slot_killed_past_its_retries_fails_the_dag_run_and_registers_nothing(
    airflow_db: None, automl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automl.worker
    from automl import tracking
    from automl.config import parse_config

    real = automl.worker.worker_command

    def kill_slot_1(study_name: str, slot: int, *args: object, **kw: object) -> list[str]:
        if slot == 1:  # the worker dies at once, as a SIGKILL (OOM killer, node loss) would end it
            return [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
        return real(study_name, slot, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(automl.worker, "worker_command", kill_slot_1)
    path = TEST_DAGS / "studies" / "killed_slot.yaml"
    path.write_text(KILLED_SLOT)
    try:
        from automl_airflow.local import load_dags

        dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_killed_slot"]
        dr = dag.test()
    finally:
        path.unlink()
    assert str(dr.state) == "failed"
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert states["check_search"] == "failed", states
    assert states["register_model"] == "upstream_failed" and states["retrain_best"] == "upstream_failed"
    cfg = parse_config(yaml.safe_load(KILLED_SLOT))
    assert tracking.client(cfg).search_model_versions(f"name = '{cfg.registered_model_name}'") == []
