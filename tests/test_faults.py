"""Fault tests, each asserting that nothing is lost:

- PostgreSQL restarted while two worker processes run trials (a private throwaway cluster
  started by the test; the shared server is never touched): workers retry with backoff,
  the study completes its budget, no trial is lost or doubled.
- The same through the gRPC storage proxy: the proxy restarted mid-study.
- The MLflow tracking server stopped during trials and started again: results wait in the
  study storage, all reach MLflow afterwards, and a second sync creates no duplicate.

(A worker killed with SIGKILL: tests/test_worker_killed.py. An Airflow task retry and a full
re-run of the same DAG run: tests/test_worker_killed.py and tests/test_dag_e2e.py.)
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from helpers import make_config, mlflow_server_command
from optuna.trial import TrialState

from automl.config import StudyConfig
from automl.data import read_dataset
from automl.pruning.control import enforce
from automl.storage import ORPHAN_KEY, compat, get_storage
from automl.study import create_or_open, open_study, progress
from automl.worker import worker_command

pytestmark = pytest.mark.slow

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INITDB, PG_CTL = shutil.which("initdb"), shutil.which("pg_ctl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (initdb + pg_ctl as user postgres)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="automl-pg-"))
        self.data, self.sock, self.log = self.dir / "data", self.dir / "sock", self.dir / "pg.log"
        self.sock.mkdir()
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sock, "postgres")
        res = _as_postgres(str(INITDB), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stdout}{res.stderr}")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} -c fsync=off -c max_connections=40"
        res = _as_postgres(str(PG_CTL), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", *args)
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl {args} failed: {res.stdout}{res.stderr}\n{self.log.read_text()[-2000:]}")

    def cleanup(self) -> None:
        _as_postgres(str(PG_CTL), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if not INITDB or not PG_CTL or (os.geteuid() == 0 and shutil.which("runuser") is None):
        msg = "PostgreSQL server binaries (initdb, pg_ctl) or runuser are missing"
        if CI:
            pytest.fail(msg + " (required under CI)")
        pytest.skip(msg)
    pg = PrivatePostgres()
    try:
        pg.pg_ctl("start")
        yield pg
    finally:
        pg.cleanup()


def _fault_config(storage: str) -> StudyConfig:
    # LightGBM with a report every 5 rounds: each trial writes dozens of reports, so an outage
    # lands in the middle of trials, not between them
    return make_config(
        storage=storage,
        storage_retry_s=90,
        model_space=["lightgbm"],
        pruning={"rule": "none", "heartbeat_interval_s": 1, "stale_after_s": 60},
        budget={
            "n_trials": 6,
            "trials_per_slot": 3,
            "parallelism": 2,
            "cv_folds": 2,
            "max_rounds": 250,
            "report_every": 5,
            "early_stopping_rounds": 1000,
        },
    )


def _start_workers(cfg: StudyConfig, name: str, tmp_path: Path) -> list[subprocess.Popen[str]]:
    config_path, data_path = tmp_path / "config.json", tmp_path / "train.parquet"
    config_path.write_text(cfg.model_dump_json())
    read_dataset("sklearn:breast_cancer").sample(200, random_state=0).to_parquet(data_path)
    return [
        subprocess.Popen(
            worker_command(name, slot, str(config_path), str(data_path), None),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for slot in range(cfg.n_slots)
    ]


def _wait_for_reports(study: optuna.Study, min_complete: int, timeout: float = 120) -> None:
    """Until ``min_complete`` trials finished and another has reported (an outage now hits a running trial)."""
    end = time.time() + timeout
    while time.time() < end:
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        running = [t for t in trials if t.state == TrialState.RUNNING and len(t.intermediate_values) >= 2]
        if done >= min_complete and running:
            return
        time.sleep(0.1)
    raise AssertionError(f"workers did not get going: {[t.state.name for t in study.get_trials()]}")


def _assert_nothing_lost(cfg: StudyConfig, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    # the pruning sensor's pass, once the grace period is over (it fails orphans of interrupted asks)
    enforce(study, cfg, now=time.time() + cfg.pruning.stale_after_s + 1)
    trials = study.get_trials(deepcopy=False)
    results = [t for t in trials if t.state == TrialState.COMPLETE]
    p = progress(study)
    assert p.complete == cfg.budget.n_trials and p.running == 0 and p.waiting == 0 and p.failed == 0, p
    keys = Counter(t.user_attrs["slot_key"] for t in results)
    assert sorted(keys) == ["0:0", "0:1", "0:2", "1:0", "1:1", "1:2"] and set(keys.values()) == {1}
    numbers = [t.number for t in trials]
    print("trials:", [(t.number, t.state.name, t.user_attrs.get("slot_key")) for t in trials])
    assert sorted(numbers) == list(range(len(trials)))  # no gap, no double number
    # every other trial is an attempt the outage interrupted, failed and retried with its parameters
    for t in trials:
        if t.system_attrs.get(ORPHAN_KEY):  # an ask whose reply the outage lost: no slot, nothing ran
            assert t.state == TrialState.FAIL and "slot_key" not in t.user_attrs and not t.intermediate_values
            continue
        if t.state != TrialState.COMPLETE:
            assert t.state == TrialState.FAIL and "restarted" in t.system_attrs["automl:failed_reason"]
            retry = [r for r in trials if t.number in r.system_attrs.get("retry_history", [])]
            # (an outage during sampling leaves some parameters unset: the retry fixes those it has)
            assert len(retry) == 1 and retry[0].params.items() >= t.params.items()
    return trials


@pytest.mark.postgres
def test_postgres_restart_while_trials_run_loses_nothing(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    cfg = _fault_config(private_pg.url)
    name = "pg-restart"
    study = create_or_open(cfg, name)
    procs = _start_workers(cfg, name, tmp_path)
    try:
        _wait_for_reports(study, min_complete=1)
        private_pg.pg_ctl("-m", "fast", "stop")  # every connection dies, in-flight writes fail
        time.sleep(3)  # workers meet a refused connection for a while
        private_pg.pg_ctl("start")
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    log = "\n".join(outputs)
    assert "storage unavailable" in log and "retry" in log, log[-3000:]  # the outage was met and retried
    print("\n".join(line for line in log.splitlines() if "WARNING" in line))
    _assert_nothing_lost(cfg, open_study(cfg, name))


@pytest.mark.postgres
def test_storage_proxy_restart_while_trials_run_loses_nothing(
    private_pg: PrivatePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("AUTOML_PROXY_TOKEN", "faults-token")  # the proxy requires it; workers inherit it

    def start_proxy() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "automl.storage.proxy", "--port", str(port), "--threads", "4"],
            env={**os.environ, "AUTOML_PROXY_STORAGE": private_pg.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        get_storage(f"grpc://127.0.0.1:{port}", connect_timeout_s=60)
        return proc

    proxy = start_proxy()
    cfg = _fault_config(f"grpc://127.0.0.1:{port}")
    name = "proxy-restart"
    procs: list[subprocess.Popen[str]] = []
    try:
        study = create_or_open(cfg, name)
        procs = _start_workers(cfg, name, tmp_path)
        _wait_for_reports(study, min_complete=1)
        proxy.send_signal(signal.SIGKILL)  # the proxy dies without a goodbye
        proxy.wait(timeout=30)
        time.sleep(2)
        proxy = start_proxy()
        outputs = [p.communicate(timeout=240)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        assert "storage unavailable" in "\n".join(outputs)
        # through the proxy, heartbeats are a trial attribute (Optuna's proxy has no heartbeat call)
        trials = _assert_nothing_lost(cfg, open_study(cfg, name))
        # (every trial that ran to its end; one asked just as the proxy died may have failed before its first beat)
        assert all("automl:heartbeat" in t.system_attrs for t in trials if t.state == TrialState.COMPLETE)
        # and the study is the one in PostgreSQL behind it
        direct = optuna.load_study(study_name=name, storage=private_pg.url)
        assert len(direct.trials) == len(trials)
    finally:
        for p in procs:
            p.kill()
        proxy.terminate()
        proxy.wait(timeout=30)


def _mlflow_server(port: int, store: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        mlflow_server_command(port, store),
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopping it stops its children
    )
    import urllib.request

    end = time.time() + 90
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}")
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("mlflow server did not become healthy in 90 s")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_mlflow_server_down_during_trials_loses_nothing(automl_home: Path, tmp_path: Path) -> None:
    from automl import tracking
    from automl.worker import run_slot

    port, store = _free_port(), tmp_path / "mlflow"
    store.mkdir()
    server = _mlflow_server(port, store)
    try:
        cfg = make_config(tracking_uri=f"http://127.0.0.1:{port}", budget={"n_trials": 4, "trials_per_slot": 2})
        name = "mlflow-outage"
        create_or_open(cfg, name)
        parent = tracking.start_parent_run(cfg, name, {"dag_id": "d", "run_id": "r"}, {}, {})
        frame = read_dataset("sklearn:breast_cancer").sample(150, random_state=3)
        X, y = frame.drop(columns=["target"]), frame["target"]
        assert len(run_slot(cfg, name, 0, X, y, parent_run_id=parent)) == 2  # logged as they end

        _stop(server)  # the tracking server goes away mid-study
        started = time.time()
        slot1 = run_slot(cfg, name, 1, X, y, parent_run_id=parent)  # logging fails; the trials do not
        assert len(slot1) == 2
        assert time.time() - started < 60, "a down tracking server must not hold the trial slot for long"
        study = open_study(cfg, name)
        assert progress(study).complete == 4  # the results wait in the study storage

        server = _mlflow_server(port, store)  # back, same store
        exp = tracking.experiment_id(cfg)
        children = tracking.client(cfg).search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
        assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [0, 1]
        assert tracking.sync_trials(cfg, parent, study) == 2  # what retrain_best runs: the missing two
        assert tracking.sync_trials(cfg, parent, study) == 0  # idempotent
        children = tracking.client(cfg).search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
        assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [0, 1, 2, 3]
        by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
        for t in study.trials:
            assert by_number[t.number].data.metrics["cv_roc_auc"] == pytest.approx(t.value)
            assert by_number[t.number].info.status == "FINISHED"
    finally:
        _stop(server)


HUNG_WORKER = """
import sys, time
import automl.storage.backends as b
b.IDLE_IN_TRANSACTION_TIMEOUT_S = float(sys.argv[3])
from automl.storage.fast_rdb import _I
storage = b.get_storage(sys.argv[1])
conn = storage.engine.connect()
tx = conn.begin()  # a worker's report, frozen before its commit: the trial's row stays key-share locked
storage._check_updatable(conn, int(sys.argv[2]))
storage._upsert(conn, _I, {"trial_id": int(sys.argv[2]), "step": 1},
                {"intermediate_value": 0.5, "intermediate_value_type": "FINITE"})
print("locked", flush=True)
time.sleep(600)
"""


def test_force_prune_is_not_held_up_by_a_worker_hung_inside_a_transaction(postgres_url: str) -> None:
    """A worker frozen mid-transaction (SIGSTOP, a VM pause, a cut network) keeps its locks on its trial's
    row while its connection lives; the sensor's force-prune of that trial needs the row. The server ends
    the hung session after IDLE_IN_TRANSACTION_TIMEOUT_S, so the force-prune waits that long, not forever."""
    from automl.pruning.control import FORCED_KEY, force_prune

    storage = get_storage(postgres_url)
    name = f"hung-tx-{os.getpid()}-{time.time_ns()}"
    study = optuna.create_study(study_name=name, storage=storage)
    trial = study.ask()
    timeout_s = 2.0
    hung = subprocess.Popen(
        [sys.executable, "-c", HUNG_WORKER, postgres_url, str(compat.trial_id(trial)), str(timeout_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert hung.stdout is not None and hung.stdout.readline().strip() == "locked"
        hung.send_signal(signal.SIGSTOP)  # frozen, as the k8s test freezes a worker
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pruning = pool.submit(force_prune, study, study.get_trials(deepcopy=False)[0], "test: hung worker")
            try:  # without the server-side timeout this waits as long as the hung process lives
                assert pruning.result(timeout=timeout_s + 20), "the trial had ended already"
            finally:
                hung.kill()  # releases the lock if the timeout did not: the pool's thread can end
        waited = time.monotonic() - started
        # it did wait for the hung worker's lock (so the lock was real) and got it when the server ended the session
        assert timeout_s - 1.0 <= waited <= timeout_s + 10.0, waited
        frozen = storage.get_trial(compat.trial_id(trial))
        assert frozen.state == TrialState.PRUNED and frozen.system_attrs[FORCED_KEY] == "test: hung worker"
        assert frozen.intermediate_values == {}  # the hung transaction was rolled back, not half-applied
    finally:
        hung.kill()
        hung.wait()
        optuna.delete_study(study_name=name, storage=storage)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
