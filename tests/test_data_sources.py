"""Data sources: fsspec URIs, SQL through an environment URL or an Airflow connection, templates, relative paths."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from conftest import TEST_DAGS
from helpers import make_config

from automl.config import SqlSourceConfig, load_config
from automl.data import DataError, conn_env_var, read_dataset, validate
from automl.pipeline import RunContext
from automl.pipeline.data import load_data


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": rng.normal(size=n), "label": (a > 0).astype(int)})


def test_memory_uri_source_runs_the_load_stage(automl_home: Path) -> None:
    frame = _frame()
    with fsspec.open("memory://automl-test/train.parquet", "wb") as fh:
        frame.to_parquet(fh, index=False)
    cfg = make_config(dataset={"source": "memory://automl-test/train.parquet", "target": "label"})
    loaded = load_data(RunContext.new(cfg, "t__memory"))
    assert loaded.summary["rows"] == len(frame)
    assert len(pd.read_parquet(loaded.train)) + len(pd.read_parquet(loaded.holdout)) == len(frame)
    with pytest.raises(DataError, match="not found: memory://automl-test/nope.parquet"):
        read_dataset("memory://automl-test/nope.parquet")


def test_file_uri_source(tmp_path: Path) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "d.csv", index=False)
    uri = (tmp_path / "d.csv").as_uri()
    assert uri.startswith("file://")
    cfg = make_config(dataset={"source": uri, "target": "label"})
    pd.testing.assert_frame_equal(validate(read_dataset(uri), cfg), frame)


def test_relative_paths_resolve_against_the_study_file_from_any_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studies = tmp_path / "project" / "studies"
    (studies / "data").mkdir(parents=True)
    _frame().to_parquet(studies / "data" / "train.parquet", index=False)
    (studies / "s.yaml").write_text(
        "name: s\ndataset: {source: data/train.parquet, target: label}\ntask: classification\nmetric: roc_auc\n"
        "model_space: [logistic_regression]\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "project" / "studies" / "s.yaml")
    assert cfg.dataset.source == str((studies / "data" / "train.parquet").resolve())
    assert len(read_dataset(cfg.dataset.source)) == 40
    # a relational table path, and a trigger-form override, resolve the same way
    from automl_airflow.factory import effective_config

    over = effective_config(cfg, {"source": "data/train.parquet"}, base_dir=studies)
    assert over.dataset.source == cfg.dataset.source


def test_templated_source_is_refused_outside_a_dag_run() -> None:
    with pytest.raises(DataError, match="template"):
        read_dataset("/data/{{ ds }}/train.parquet")


def test_sql_source_config_is_checked() -> None:
    from automl.config import ConfigError

    for bad, needle in (
        ({"sql": "select 1"}, "exactly one of 'conn_id'"),
        ({"conn_id": "x", "url_env": "AUTOML_X", "sql": "select 1"}, "exactly one of 'conn_id'"),
        ({"url_env": "PATH", "sql": "select 1"}, "AUTOML_"),
    ):
        with pytest.raises(ConfigError, match=needle):
            make_config(dataset={"source": bad, "target": "label"})


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[tuple[str, pd.DataFrame]]:
    """A uniquely named table in the test database, with a `day` column; dropped afterwards."""
    table = f"automl_src_{uuid.uuid4().hex[:10]}"
    frame = _frame()
    frame["day"] = [date(2026, 1, 1) + timedelta(days=i // 4) for i in range(len(frame))]
    engine = sqlalchemy.create_engine(postgres_url)
    frame.to_sql(table, engine, index=False)
    try:
        yield table, frame
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"drop table if exists {table}"))
        engine.dispose()


def test_sql_source_through_an_environment_url(
    pg_table: tuple[str, pd.DataFrame], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, frame = pg_table
    src = SqlSourceConfig(url_env="AUTOML_TEST_DATA_URL", sql=f"select a, b, label from {table} order by day")
    with pytest.raises(DataError, match="AUTOML_TEST_DATA_URL.*not set"):
        read_dataset(src)
    # trust auth ignores the password: it must still never appear in an error
    monkeypatch.setenv("AUTOML_TEST_DATA_URL", postgres_url.replace("postgres@", "postgres:s3cret-pw@"))
    got = read_dataset(src)
    pd.testing.assert_frame_equal(got, frame[["a", "b", "label"]])
    with pytest.raises(DataError, match="the query failed") as err:
        read_dataset(SqlSourceConfig(url_env="AUTOML_TEST_DATA_URL", sql="select * from no_such_table_xyz"))
    assert "s3cret" not in str(err.value)
    with pytest.raises(DataError, match="only inside an Airflow run"):
        read_dataset(SqlSourceConfig(conn_id="warehouse", sql="select 1"))


@pytest.mark.slow
def test_dag_reads_a_templated_query_through_an_airflow_connection(
    pg_table: tuple[str, pd.DataFrame], airflow_db: None
) -> None:
    """The trigger form's `sql` replaces the config's query; `{{ ds }}` is rendered with the run's date; the
    connection's URL reaches the stage through the environment only."""
    from automl_airflow.local import load_dags

    from automl.paths import run_dir
    from automl.pipeline import study_name_for

    table, frame = pg_table
    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_sql_source"]
    sql = f"select a, b, label from {table} where day <= '{{{{ ds }}}}'"
    run = dag.test(
        logical_date=datetime(2026, 1, 5, tzinfo=UTC),
        run_conf={"sql": sql},
        mark_success_pattern=r"(?!load_data$).*",  # only the data stage runs
    )
    tis = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert str(tis["load_data"]) == "success", tis
    # the run's study: named from the config as the form changed it (here: the query), so found by its prefix
    prefix = study_name_for(load_config(TEST_DAGS / "studies" / "sql_source.yaml"), run.run_id).rsplit("__", 1)[0]
    (folder,) = run_dir(prefix).parent.glob(prefix + "__*")
    summary = json.loads((folder / "dataset_summary.json").read_text())
    assert summary["summary"]["rows"] == int((frame["day"] <= date(2026, 1, 5)).sum()) == 20
    saved = json.loads((folder / "config.json").read_text())
    assert saved["dataset"]["source"]["sql"] == sql.replace("{{ ds }}", "2026-01-05")
    assert conn_env_var("automl_test_pg") not in os.environ


@pytest.mark.slow
def test_the_trigger_form_resumes_an_existing_study(pg_table: tuple[str, pd.DataFrame], airflow_db: None) -> None:
    """`resume_study` in the form: the run works on that study (its run folder, its storage), with n_trials
    more trials than the slot keys it has."""
    import optuna
    from automl_airflow.local import load_dags

    from automl.paths import run_dir
    from automl.study import PATIENCE_FROM, create_or_open

    table, _ = pg_table
    config = load_config(TEST_DAGS / "studies" / "sql_source.yaml")
    study = create_or_open(config, "sql_source__earlier")
    dist: dict[str, optuna.distributions.BaseDistribution] = {
        "C": optuna.distributions.FloatDistribution(1e-4, 1e3, log=True)
    }
    for key in ("0:0", "0:1"):
        study.add_trial(
            optuna.trial.create_trial(params={"C": 1.0}, distributions=dist, value=0.9, user_attrs={"slot_key": key})
        )
    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_sql_source"]
    run = dag.test(
        run_conf={"sql": f"select a, b, label from {table}", "resume_study": "sql_source__earlier", "n_trials": 3},
        mark_success_pattern=r"(?!load_data$).*",
    )
    assert str({ti.task_id: ti.state for ti in run.get_task_instances()}["load_data"]) == "success"
    saved = json.loads((run_dir("sql_source__earlier") / "config.json").read_text())
    assert saved["budget"]["n_trials"] == 2 + 3
    assert PATIENCE_FROM in create_or_open(config, "sql_source__earlier").user_attrs
