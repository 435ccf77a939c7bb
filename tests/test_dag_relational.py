"""The relational demo study end to end through the DAG (dag.test())."""

import json
from pathlib import Path

import pytest
from conftest import TEST_DAGS

pytestmark = pytest.mark.slow


def test_relational_study_runs_and_mlflow_lists_generated_and_kept_features(airflow_db: None) -> None:
    from automl_airflow.local import load_dags

    from automl import tracking
    from automl.config import load_config
    from automl.pipeline import study_name_for
    from automl.study import open_study, progress

    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_relational_tiny"]
    dr = dag.test()
    assert str(dr.state) == "success"
    config = load_config(TEST_DAGS / "studies" / "relational_tiny.yaml")
    name = study_name_for(config, dr.run_id)
    assert progress(open_study(config, name)).finished == 4
    parent = tracking.find_parent_run(config, name)
    assert parent is not None
    c = tracking.client(config)
    selection = json.loads(Path(c.download_artifacts(parent, "features/selection.json")).read_text())
    assert any(n.startswith("COUNT(") for n in selection["generated"])  # aggregations over child tables
    assert any("sessions." in n or "transactions." in n for n in selection["kept"])
    assert len(selection["kept"]) <= 40 and set(selection["kept"]) <= set(selection["generated"])
    assert all(isinstance(reason, str) for reason in selection["dropped"].values())
    run = c.get_run(parent)
    assert int(run.data.params["n_features_generated"]) == len(selection["generated"])
    assert int(run.data.params["n_features_selected"]) == len(selection["kept"])
    assert 0.0 <= run.data.metrics["holdout_roc_auc"] <= 1.0

    # the registered model scores raw target-table rows: the related tables are read from the config's paths
    import mlflow
    import pandas as pd

    from automl.model.champion import score_frame
    from automl.paths import run_dir

    holdout = pd.read_parquet(run_dir(name) / "holdout.parquet")  # customers rows as in the source, with the label
    with tracking.global_uri(config):
        out = mlflow.pyfunc.load_model(f"models:/{config.registered_model_name}@champion").predict(
            holdout.drop(columns=[config.dataset.target])
        )
    assert len(out) == len(holdout) and "prediction" in out.columns
    score = score_frame("roc_auc", holdout[config.dataset.target], out)
    assert score == pytest.approx(run.data.metrics["holdout_roc_auc"], abs=1e-9)
