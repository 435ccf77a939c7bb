"""A worker killed with SIGKILL mid-trial: the heartbeat check fails its trial, the parameters are
retried once, the study ends with exactly n_trials results and the DAG run succeeds."""

import os
import signal
import threading
import time

import psutil
import pytest
from conftest import TEST_DAGS
from optuna.trial import TrialState

pytestmark = pytest.mark.slow


def _kill_first_worker_mid_trial(killed: dict[str, object], stop: threading.Event) -> None:
    """Find a running `automl.worker` child, wait until its trial has reported, SIGKILL it."""
    from automl.config import load_config
    from automl.study import open_study

    config = load_config(TEST_DAGS / "studies" / "killtest.yaml")
    me = psutil.Process()
    while not stop.is_set():
        for proc in me.children(recursive=True):
            try:
                cmd = proc.cmdline()
            except psutil.Error:
                continue
            if "automl.worker" not in cmd:
                continue
            study = open_study(config, cmd[cmd.index("--study") + 1])
            running = [
                t
                for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if len(t.intermediate_values) >= 3
            ]
            if running:
                os.kill(proc.pid, signal.SIGKILL)
                killed.update(
                    pid=proc.pid,
                    trial=running[0].number,
                    study=study.study_name,
                    slot=int(cmd[cmd.index("--slot") + 1]),
                )
                return
        time.sleep(0.05)


def test_sigkilled_worker_loses_nothing(airflow_db: None) -> None:
    from automl_airflow.local import load_dags

    from automl.config import load_config
    from automl.study import open_study, progress

    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_killtest"]
    killed: dict[str, object] = {}
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_worker_mid_trial, args=(killed, stop), daemon=True)
    killer.start()
    try:
        dr = dag.test()
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed, "the test never found a worker mid-trial to kill"
    assert str(dr.state) == "success"

    config = load_config(TEST_DAGS / "studies" / "killtest.yaml")
    study = open_study(config, str(killed["study"]))
    trials = study.get_trials(deepcopy=False)
    victim = trials[int(killed["trial"])]  # type: ignore[call-overload]
    assert victim.state == TrialState.FAIL
    # failed by whichever sees it first: the sensor (its heartbeat went stale) or the slot's retry, which
    # holds the slot's lease and so knows the trial it finds RUNNING was left by its dead earlier attempt
    reason = victim.system_attrs["automl:failed_reason"]
    assert "heartbeat" in reason or "restarted while the trial was running" in reason, reason
    retries = [t for t in trials if t.system_attrs.get("retry_history") == [victim.number]]
    assert len(retries) == 1, "the killed trial's parameters must be retried exactly once"
    assert retries[0].params == victim.params and retries[0].state == TrialState.COMPLETE
    p = progress(study)
    assert p.complete == config.budget.n_trials and p.failed == 0 and p.running == 0
    assert len(trials) == config.budget.n_trials + 1  # the n results plus the one failed attempt
    slot_tis = [ti for ti in dr.get_task_instances() if ti.task_id == "run_trial"]
    assert {ti.map_index: str(ti.state) for ti in slot_tis} == {0: "success", 1: "success"}
    assert max(ti.try_number for ti in slot_tis if ti.map_index == killed["slot"]) == 2
