"""Shared fixtures. Airflow reads its configuration at import time, so the
embedded Airflow's environment (a throwaway AIRFLOW_HOME with SQLite, a dags
folder holding the real DAG file and tiny study configs) is set here, before
any test module imports Airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["model.fixtures"]  # the session's trained model (tests/model/)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="automl-tests-"))
TEST_DAGS = _SESSION_DIR / "dags"
(TEST_DAGS / "studies").mkdir(parents=True)
shutil.copy(ROOT / "dags" / "automl_studies.py", TEST_DAGS / "automl_studies.py")
(TEST_DAGS / "studies" / "tiny.yaml").write_text(
    """\
name: tiny
description: a tiny study for the end-to-end test
dataset: {source: "sklearn:breast_cancer", target: target, holdout_fraction: 0.25}
task: classification
metric: roc_auc
model_space: [lightgbm, logistic_regression]
sampler: random
pruning: {rule: none}
features: {trans_primitives: [add_numeric], max_generated: 60}
budget: {n_trials: 4, parallelism: 2, trials_per_slot: 2, cv_folds: 2}
seed: 3
tags: [test]
"""
)
(TEST_DAGS / "studies" / "killtest.yaml").write_text(
    """\
name: killtest
description: a worker is killed with SIGKILL mid-trial; the study must still end with n_trials results
dataset: {source: "sklearn:breast_cancer", target: target}
task: classification
metric: roc_auc
model_space: [lightgbm]
sampler: random
pruning: {rule: none, heartbeat_interval_s: 1, stale_after_s: 3, poke_interval_s: 1}
features: {enabled: false}
budget: {n_trials: 4, parallelism: 2, trials_per_slot: 2, cv_folds: 2, max_rounds: 1500, report_every: 10,
         early_stopping_rounds: 100000}
retries: 2
retry_delay_s: 20
seed: 5
"""
)
# the relational demo, smaller
(TEST_DAGS / "studies" / "relational_tiny.yaml").write_text(
    (ROOT / "dags" / "studies" / "mock_customer_heavy_buyer.yaml")
    .read_text()
    .replace("name: mock_customer_heavy_buyer", "name: relational_tiny")
    .replace("n_trials: 20", "n_trials: 4")
    .replace("trials_per_slot: 4", "trials_per_slot: 2")
    .replace("path: ../../data/", f"path: {ROOT}/data/")  # relative paths resolve against the study file
)
# the NAS / Pareto demo, smaller
(TEST_DAGS / "studies" / "nas_tiny.yaml").write_text(
    (ROOT / "dags" / "studies" / "nas_digits_pareto.yaml")
    .read_text()
    .replace("name: nas_digits_pareto", "name: nas_tiny")
    .replace("n_trials: 16", "n_trials: 6")
    .replace("trials_per_slot: 4", "trials_per_slot: 3")
    .replace("cv_folds: 3", "cv_folds: 2")
    .replace("max_epochs: 12", "max_epochs: 3")
    .replace("min_trials_at_rung: 3", "min_trials_at_rung: 2")
)
# a SQL source read through an Airflow connection; the tests trigger it with their own query (the `sql` field)
(TEST_DAGS / "studies" / "sql_source.yaml").write_text(
    """\
name: sql_source
description: the training table is read from PostgreSQL through an Airflow connection
dataset: {source: {conn_id: automl_test_pg, sql: "select 1 as a, 0 as label"}, target: label}
task: classification
metric: roc_auc
model_space: [logistic_regression]
sampler: random
pruning: {rule: none}
features: {enabled: false, select: false}
budget: {n_trials: 2, parallelism: 1, trials_per_slot: 2, cv_folds: 2}
"""
)
# a study that fails at once (its data file is missing), with a failure notifier (tests/recording_notifier.py)
NOTIFIED = _SESSION_DIR / "notified.jsonl"
os.environ["AUTOML_NOTIFIER_PREFIXES"] = "recording_notifier."  # the allow-list, widened for the test notifier
(TEST_DAGS / "studies" / "notify_fail.yaml").write_text(
    f"""\
name: notify_fail
dataset: {{source: no_such_file.csv, target: label}}
task: classification
metric: roc_auc
model_space: [logistic_regression]
retries: 0
airflow:
  on_failure: [{{notifier: recording_notifier.RecordingNotifier, args: {{path: "{NOTIFIED}", label: "{{{{ dag.dag_id }}}}"}}}}]
  on_success: [{{notifier: recording_notifier.RecordingNotifier, args: {{path: "{NOTIFIED}", label: success}}}}]
"""
)
# scheduled on the tiny study's model Asset (test_dag_e2e checks that registering a model queues it)
(TEST_DAGS / "studies" / "downstream_of_tiny.yaml").write_text(
    (TEST_DAGS / "studies" / "tiny.yaml")
    .read_text()
    .replace("name: tiny", "name: downstream_of_tiny")
    .replace("seed: 3", "seed: 3\nschedule: automl://tiny/model")
)
# the DARTS demo, 2 supernet epochs, 2 folds of 2 epochs
(TEST_DAGS / "studies" / "darts_tiny.yaml").write_text(
    (ROOT / "dags" / "studies" / "nas_digits_darts.yaml")
    .read_text()
    .replace("name: nas_digits_darts", "name: darts_tiny")
    .replace("  epochs: 4 ", "  epochs: 2 ")
    .replace("cv_folds: 3", "cv_folds: 2")
    .replace("max_epochs: 12", "max_epochs: 2")
)
# the environment must be set before Airflow is imported anywhere in the session
for key, value in {
    "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(TEST_DAGS),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
    "AUTOML_HOME": str(_SESSION_DIR / "automl"),
}.items():
    os.environ[key] = value
os.environ.setdefault(
    "AIRFLOW_CONN_AUTOML_TEST_PG",
    os.environ.get("AUTOML_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test").replace("+psycopg", ""),
)
os.environ.pop("AUTOML_STORAGE", None)
os.environ.pop("MLFLOW_TRACKING_URI", None)
(_SESSION_DIR / "airflow").mkdir()

POSTGRES_URL = os.environ.get("AUTOML_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialized embedded Airflow metadata DB (``airflow db migrate``), once per session."""
    from automl_airflow.local import migrate_db

    migrate_db()


@pytest.fixture
def automl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state folder (SQLite study storage and MLflow store) for one test."""
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "automl"))
    return tmp_path / "automl"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL study storage; under CI a missing server is a failure, not a skip."""
    import psycopg

    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except psycopg.OperationalError as err:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable under CI: {err}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} unreachable (not CI): {err}")
    return POSTGRES_URL


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
