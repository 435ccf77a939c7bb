"""The study DAG under the real scheduler (LocalExecutor, parallel trial slots, the sensor
beside them), started by `scripts/ui.py` like `make ui`, triggered through the REST API with
a parameter from the trigger form; everything is stopped afterwards.

It starts the services of `make ui` (~100 s on 2 quiet cores), so it runs under `make test-ui` beside the
browser test (AUTOML_TEST_SCHEDULER=1), which keeps `make test` under its 15 minutes; CI runs both."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import TEST_DAGS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

if os.environ.get("AUTOML_TEST_SCHEDULER") != "1":
    pytest.skip("the scheduler test runs with `make test-ui` (AUTOML_TEST_SCHEDULER=1)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(url: str, token: str | None = None, data: dict | None = None, method: str = "GET") -> dict:
    req = urllib.request.Request(url, method=method, data=json.dumps(data).encode() if data is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (loopback)
        return json.loads(r.read())


def test_triggered_run_succeeds_under_the_scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    airflow_home, automl_home = tmp_path / "airflow", tmp_path / "automl"
    a_port, m_port, w_port, t_port = _free_port(), _free_port(), _free_port(), _free_port()
    common = ["--airflow-home", str(airflow_home), "--automl-home", str(automl_home)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    start = subprocess.run(
        [
            sys.executable,
            "scripts/ui.py",
            "start",
            *common,
            "--dags",
            str(TEST_DAGS),
            "--airflow-port",
            str(a_port),
            "--mlflow-port",
            str(m_port),
            "--worker-log-port",  # the log servers too: nothing binds the fixed 8793/8794
            str(w_port),
            "--trigger-log-port",
            str(t_port),
            "--timeout",
            "180",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    pids = json.loads((airflow_home / "ui.json").read_text()) if (airflow_home / "ui.json").exists() else {}
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        assert f"http://127.0.0.1:{a_port}" in start.stdout and f"http://127.0.0.1:{m_port}" in start.stdout
        base = f"http://127.0.0.1:{a_port}"
        user, password = next(
            iter(json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text()).items())
        )
        token = _api(f"{base}/auth/token", data={"username": user, "password": password}, method="POST")["access_token"]
        deadline = time.time() + 120
        while True:  # the dag-processor parses the DAG file first
            try:
                _api(f"{base}/api/v2/dags/automl_tiny", token, {"is_paused": False}, "PATCH")
                break
            except urllib.error.HTTPError:
                assert time.time() < deadline, "the DAG never appeared"
                time.sleep(2)
        run = _api(
            f"{base}/api/v2/dags/automl_tiny/dagRuns",
            token,
            {"logical_date": None, "conf": {"n_trials": 6, "trials_per_slot": 1}},
            "POST",
        )
        deadline = time.time() + 480  # generous: the machine may be shared
        while True:
            state = _api(f"{base}/api/v2/dags/automl_tiny/dagRuns/{run['dag_run_id']}", token)["state"]
            if state in ("success", "failed") or time.time() > deadline:
                break
            time.sleep(3)
        assert state == "success"
        tis = _api(f"{base}/api/v2/dags/automl_tiny/dagRuns/{run['dag_run_id']}/taskInstances?limit=100", token)
        slots = [t for t in tis["task_instances"] if t["task_id"] == "run_trial"]
        assert len(slots) == 6 and all(t["state"] == "success" for t in slots)
        # two slots ran at the same time (parallelism 2), with the sensor running beside them
        spans = sorted((t["start_date"], t["end_date"]) for t in slots)
        assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1)), spans
        sensor = next(t for t in tis["task_instances"] if t["task_id"] == "pruning_sensor")
        assert sensor["state"] == "success"
        # its first poke (in reschedule mode the API shows the last one) came before the slots ended
        log = next((airflow_home / "logs").rglob("task_id=pruning_sensor/attempt=1.log")).read_text()
        first_poke = json.loads(next(line for line in log.splitlines() if "slots ended" in line))["timestamp"]
        assert first_poke.replace("+00:00", "Z") < max(e for _, e in spans), (first_poke, spans)

        monkeypatch.setenv("AUTOML_HOME", str(automl_home))
        from automl import tracking
        from automl.config import load_config
        from automl.pipeline import study_name_for
        from automl.study import open_study, progress

        config = load_config(TEST_DAGS / "studies" / "tiny.yaml")
        name = study_name_for(config.with_overrides({"n_trials": 6, "trials_per_slot": 1}), run["dag_run_id"])
        assert progress(open_study(config, name)).finished == 6
        parent = tracking.find_parent_run(config, name)
        assert parent is not None
        mlflow_run = _api(f"http://127.0.0.1:{m_port}/api/2.0/mlflow/runs/get?run_id={parent}")
        assert mlflow_run["run"]["info"]["status"] == "FINISHED"

        # the operator extra links: the parent run on the study's tasks, each slot's own trial run
        exp = tracking.experiment_id(config)
        runs_url = f"{base}/api/v2/dags/automl_tiny/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"
        for task_id in ("create_study", "pruning_sensor", "retrain_best", "register_model"):
            links = _api(f"{runs_url}/taskInstances/{task_id}/links", token)["extra_links"]
            assert links == {
                "MLflow run": f"http://127.0.0.1:{m_port}/#/experiments/{exp}/runs/{parent}",
                "MLflow experiment": f"http://127.0.0.1:{m_port}/#/experiments/{exp}",
            }, (task_id, links)
        children = tracking.client(config).search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent}'")
        by_slot = {int(r.data.tags["automl.slot_key"].split(":")[0]): r.info.run_id for r in children}
        assert sorted(by_slot) == list(range(6))
        for slot in (0, 5):
            links = _api(f"{runs_url}/taskInstances/run_trial/links?map_index={slot}", token)["extra_links"]
            assert links["MLflow run"] == f"http://127.0.0.1:{m_port}/#/experiments/{exp}/runs/{by_slot[slot]}"
        # and the parent run links back to the DAG run
        assert mlflow_run["run"]["data"]["tags"]  # tags as a list of {key, value}
        tags = {t["key"]: t["value"] for t in mlflow_run["run"]["data"]["tags"]}
        assert (
            tags["airflow.dag_run_url"]
            == f"{base}/dags/automl_tiny/runs/{urllib.parse.quote(run['dag_run_id'], safe='')}"
        )
        assert tags["airflow.dag_run_url"] in tags["mlflow.note.content"]
    finally:
        stop = subprocess.run(
            [sys.executable, "scripts/ui.py", "stop", *common],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        for pid in (pids.get("airflow"), pids.get("mlflow")):
            if pid:
                left = subprocess.run(["ps", "-o", "stat=", "-g", str(pid)], capture_output=True, text=True).stdout
                assert all(s.startswith("Z") for s in left.split()), f"process group {pid} still running: {left}"
