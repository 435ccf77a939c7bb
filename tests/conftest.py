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
