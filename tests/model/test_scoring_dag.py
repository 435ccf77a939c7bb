"""Acceptance 4 (DAG): the study's scoring DAG follows the model Asset that register_model emits, scores
every row of ``scoring.source`` with the champion and logs a scoring run in MLflow."""

from __future__ import annotations

import pandas as pd
from automl_airflow.assets import model_asset
from automl_airflow.local import load_dags, run_dag_test
from conftest import TEST_DAGS

from automl import tracking
from model.fixtures import SCORING_OUTPUT, SCORING_SOURCE, user_frame


def test_scoring_dag_follows_the_model_asset_and_scores_every_row(trained_study, airflow_db) -> None:
    dags = load_dags(TEST_DAGS / "automl_studies.py")
    training, scoring = dags["automl_model_tiny"], dags["automl_model_tiny_scoring"]
    asset = model_asset("model_tiny")
    # the training DAG's register_model emits the Asset; the scoring DAG is scheduled on it
    assert training.get_task("register_model").outlets == [asset]
    assert [a.uri for a in training.get_task("register_model").outlets] == ["automl://model_tiny/model"]
    condition = scoring.timetable.asset_condition
    assert list(condition.objects) == [asset]

    rows = user_frame(80, seed=11).drop(columns=["label"])
    rows.to_csv(SCORING_SOURCE, index=False)
    dr = run_dag_test(scoring)
    assert str(dr.state) == "success", f"scoring DAG run ended {dr.state}"
    out = pd.read_parquet(SCORING_OUTPUT)
    assert len(out) == 80 and out["prediction"].notna().all()
    assert set(out["model_version"]) == {"1"}
    assert sorted(p.name for p in SCORING_OUTPUT.parent.iterdir()) == [SCORING_OUTPUT.name]

    config = trained_study.config
    runs = tracking.client(config).search_runs(
        [tracking.experiment_id(config)], filter_string="tags.`automl.role` = 'scoring'"
    )
    assert len(runs) == 1
    assert runs[0].data.metrics["rows"] == 80 and runs[0].data.params["model_version"] == "1"
    assert runs[0].data.metrics["scoring_seconds"] > 0
    assert runs[0].data.tags["airflow.run_id"] == dr.run_id
