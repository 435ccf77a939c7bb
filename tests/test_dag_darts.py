"""The DARTS study end to end through the DAG (dag.test()): the supernet runs as the one trial slot,
its derived architecture is a trial of the study, retrained and registered; the curve is in MLflow."""

import pytest
from conftest import TEST_DAGS

pytestmark = pytest.mark.slow


def test_darts_study_derives_trains_and_registers(airflow_db: None) -> None:
    from automl_airflow.local import load_dags

    from automl import tracking
    from automl.config import load_config
    from automl.pipeline import study_name_for
    from automl.study import open_study

    config = load_config(TEST_DAGS / "studies" / "darts_tiny.yaml")
    assert config.nas.solver == "darts" and config.nas.epochs == 2
    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_darts_tiny"]
    dr = dag.test()
    assert str(dr.state) == "success"
    study = open_study(config, study_name_for(config, dr.run_id))
    (trial,) = study.trials
    assert trial.state.name == "COMPLETE" and trial.user_attrs["solver"] == "darts"
    arch = trial.user_attrs["darts"]["architecture"]
    assert [trial.params[f"op_{i}"] for i in range(3)] == [a.split("_")[0] for a in arch]
    assert len(trial.user_attrs["darts_curve"]) == 2
    measures = trial.user_attrs["measures"]
    assert measures["latency_ms"] > 0 and measures["memory_mb"] <= 8  # the constraint the derivation honours

    c = tracking.client(config)
    parent = tracking.find_parent_run(config, study.study_name)
    assert parent is not None
    run = c.get_run(parent)
    assert run.data.tags["automl.registered_model"] == f"{config.registered_model_name}/1"
    (child,) = c.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert child.data.tags["automl.solver"] == "darts"
    curve = c.get_metric_history(child.info.run_id, "darts_val_accuracy")
    assert [m.step for m in curve] == [1, 2] and all(0 < m.value <= 1 for m in curve)
