"""No credential at rest or in output: a unique token in every credential a study can be given, a study
run through ``automl run`` and through ``dag.test()``, then every store searched for the token.

Credentials seeded: the study storage's password (PostgreSQL here trusts any password, so a real
run works with it) through ``${AUTOML_...}`` for the CLI and through an Airflow connection
(``storage_conn_id``) for the DAG; MLflow's credentials through ``MLFLOW_TRACKING_USERNAME/PASSWORD/
TOKEN`` and through ``tracking_conn_id``. Searched: the state folder (run folders, the MLflow
backend store and its artifacts), every table of the study storage, the Airflow home (the metadata
DB with XCom and rendered fields, the task logs), and the output of both runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, TEST_DAGS

pytestmark = pytest.mark.slow

STUDY = """\
name: {name}
dataset: {{source: "sklearn:breast_cancer", target: target}}
task: classification
metric: roc_auc
model_space: [logistic_regression]
sampler: random
pruning: {{rule: none}}
features: {{enabled: false, select: false}}
warm_start: {{enabled: false}}
budget: {{n_trials: 2, parallelism: 1, trials_per_slot: 2, cv_folds: 2}}
retries: 0
{extra}
"""


@pytest.fixture
def private_db(postgres_url: str):  # type: ignore[no-untyped-def]
    """A database of its own on the test PostgreSQL (every table in it is searched)."""
    import psycopg

    name = f"automl_secrets_{uuid.uuid4().hex[:8]}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _files_with(root: Path, token: str) -> list[str]:
    needle = token.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _tables_with(dsn: str, token: str) -> list[str]:
    import psycopg

    hits = []
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "trials" in tables and "studies" in tables  # the study really is in this database
        for t in tables:
            (n,) = conn.execute(f'SELECT count(*) FROM "{t}" x WHERE x::text LIKE %s', (f"%{token}%",)).fetchone()
            if n:
                hits.append(t)
    return hits


def test_no_credential_reaches_any_store_or_output(
    private_db: str, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_dir: Path
) -> None:
    tokens = {k: f"tok{k}{uuid.uuid4().hex}" for k in ("pg_env", "ml_pass", "ml_token", "pg_conn", "ml_conn")}
    home = tmp_path / "automl"
    monkeypatch.setenv("AUTOML_HOME", str(home))
    pg = f"postgresql+psycopg://postgres:{{}}@127.0.0.1:5432/{private_db}"

    # 1. the CLI: the password through ${AUTOML_...}, MLflow's credentials through its own variables
    cli_yaml = tmp_path / "secrets_cli.yaml"
    cli_yaml.write_text(STUDY.format(name="secrets_cli", extra="storage: ${AUTOML_TEST_PG}"))
    env = {
        **os.environ,
        "AUTOML_TEST_PG": pg.format(tokens["pg_env"]),
        "MLFLOW_TRACKING_USERNAME": "someone",
        "MLFLOW_TRACKING_PASSWORD": tokens["ml_pass"],
        "MLFLOW_TRACKING_TOKEN": tokens["ml_token"],
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
    }
    cli = subprocess.run(
        [sys.executable, "-m", "automl.cli", "run", str(cli_yaml), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-3000:]
    assert "holdout" in cli.stdout

    # 2. the DAG: both credentials from Airflow connections (the environment secrets backend)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUTOML_TEST_PG",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "password": tokens["pg_conn"],
                "schema": private_db,
            }
        ),
    )
    mlflow_db = f"sqlite:///{home / 'mlflow.db'}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUTOML_TEST_MLFLOW",
        json.dumps(
            {"conn_type": "http", "login": "someone", "password": tokens["ml_conn"], "extra": {"url": mlflow_db}}
        ),
    )
    # dag.test runs the tasks in this process: what they resolve into the environment is undone after the test
    for key in (
        "AUTOML_STORAGE",
        "MLFLOW_TRACKING_URI",
        *(f"MLFLOW_TRACKING_{k}" for k in ("USERNAME", "PASSWORD", "TOKEN")),
    ):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    yaml_path = TEST_DAGS / "studies" / "secrets_dag.yaml"
    yaml_path.write_text(
        STUDY.format(name="secrets_dag", extra="storage_conn_id: automl_test_pg\ntracking_conn_id: automl_test_mlflow")
    )
    try:
        from automl_airflow.local import load_dags, run_dag_test_quietly

        dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_secrets_dag"]
        dag_log = tmp_path / "dag_test.log"
        dr = run_dag_test_quietly(dag, dag_log)
    finally:
        yaml_path.unlink()
    assert str(dr.state) == "success", dag_log.read_text()[-4000:]

    # the DAG's study really went to the connection's database, its runs to the connection's MLflow store
    dsn = pg.format("x").replace("postgresql+psycopg://", "postgresql://")
    import psycopg

    with psycopg.connect(dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT study_name FROM studies")}
    assert any(n.startswith("secrets_cli__") for n in names) and any(n.startswith("secrets_dag__") for n in names)

    outputs = {"cli stdout": cli.stdout, "cli stderr": cli.stderr, "dag.test output": dag_log.read_text()}
    for what, token in tokens.items():
        assert _files_with(home, token) == [], f"{what} in the state folder"
        assert _tables_with(dsn, token) == [], f"{what} in the study storage"
        assert _files_with(session_dir / "airflow", token) == [], f"{what} in the Airflow home (metadata DB, logs)"
        for name, text in outputs.items():
            assert token not in text, f"{what} in the {name}"
