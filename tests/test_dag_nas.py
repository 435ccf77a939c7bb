"""The multi-objective NAS study end to end through the DAG (dag.test()): Pareto table, plots and
hypervolume in MLflow; the retrained model is the configured front point and meets the constraints."""

import json
from pathlib import Path

import pytest
from conftest import TEST_DAGS

pytestmark = pytest.mark.slow


def test_nas_pareto_study_logs_front_and_retrains_the_pick(airflow_db: None) -> None:
    from automl_airflow.local import load_dags

    from automl import tracking
    from automl.config import load_config
    from automl.multiobjective.study import front, pick
    from automl.pipeline import study_name_for
    from automl.study import open_study, progress

    config = load_config(TEST_DAGS / "studies" / "nas_tiny.yaml")
    assert config.is_multi_objective and config.model_space == ["torch_cnn"]
    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_nas_tiny"]
    dr = dag.test()
    assert str(dr.state) == "success"
    name = study_name_for(config, dr.run_id)
    study = open_study(config, name)
    assert progress(study).finished == 6
    trials = study.trials
    chosen = pick(config, trials)
    assert chosen in front(config, trials)

    c = tracking.client(config)
    parent = tracking.find_parent_run(config, name)
    assert parent is not None
    run = c.get_run(parent)
    assert run.data.params["objectives"] == "accuracy,latency_ms,memory_mb"
    assert int(run.data.params["best_trial"]) == chosen.number
    m = run.data.metrics
    assert m["pareto_hypervolume"] > 0 and m["pareto_front_size"] == len(front(config, trials))
    assert m["holdout_feasible"] == 1.0  # the retrained model itself meets latency_ms <= 20, memory_mb <= 8
    assert 0 < m["holdout_latency_ms"] <= 20 and 0 < m["holdout_memory_mb"] <= 8

    artifacts = {a.path for a in c.list_artifacts(parent, "pareto")} | {
        a.path for a in c.list_artifacts(parent, "plots")
    }
    assert {"pareto/pareto_front.csv", "pareto/pareto_front.json"} <= artifacts
    assert "plots/pareto_front_accuracy_vs_latency_ms.png" in artifacts
    assert "plots/pareto_front_latency_ms_vs_memory_mb.png" in artifacts
    assert "plots/study_report.html" in artifacts
    table = json.loads(Path(c.download_artifacts(parent, "pareto/pareto_front.json")).read_text())
    assert table["picked_trial"] == chosen.number and table["hypervolume"] == pytest.approx(m["pareto_hypervolume"])
    assert {r["trial"] for r in table["front"]} == {t.number for t in front(config, trials)}
    children = c.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 6
    assert all(
        "cv_accuracy" in r.data.metrics and "latency_ms" in r.data.metrics
        for r in children
        if r.info.status == "FINISHED"
    )
    assert run.data.tags["automl.registered_model"] == f"{config.registered_model_name}/1"
