"""End to end: the real DAG, run with ``dag.test()`` on an embedded Airflow (SQLite),
a real Optuna study storage, a real MLflow store and registry."""

import os
from pathlib import Path

import pytest
from conftest import TEST_DAGS
from optuna.trial import TrialState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_dag(airflow_db: None):  # type: ignore[no-untyped-def]
    from automl_airflow.local import load_dags

    return load_dags(TEST_DAGS / "automl_studies.py")["automl_tiny"]


def _study(config, run_id):  # type: ignore[no-untyped-def]
    from automl.pipeline import study_name_for
    from automl.study import open_study

    return open_study(config, study_name_for(config, run_id))


def _unpause(dag_id: str) -> None:
    """Write the test dags folder's DAGs to the metadata DB (as dag.test() does) and unpause one: Airflow
    queues runs of unpaused DAGs only."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        sync_bag_to_db(
            BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
            bundle.name,
            bundle.version,
        )
    with create_session() as session:
        assert session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False}) == 1


def _asset_events_and_queue(uri: str) -> tuple[set[tuple[str, str, str]], set[str]]:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.uri == uri).one()
        events = {
            (e.source_dag_id, e.source_task_id, e.source_run_id)
            for e in session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id)
        }
        queued = {
            q.target_dag_id for q in session.query(AssetDagRunQueue).filter(AssetDagRunQueue.asset_id == asset.id)
        }
    return events, queued  # type: ignore[return-value]


def test_dag_runs_end_to_end_and_a_rerun_adds_a_new_run(tiny_dag) -> None:  # type: ignore[no-untyped-def]
    from automl import tracking
    from automl.config import load_config

    config = load_config(TEST_DAGS / "studies" / "tiny.yaml")
    _unpause("automl_downstream_of_tiny")  # scheduled on tiny's model Asset
    dr1 = tiny_dag.test()
    assert str(dr1.state) == "success", f"DAG run ended {dr1.state}"
    # register_model emitted the model Asset, and Airflow queued the study scheduled on it
    events, queued = _asset_events_and_queue("automl://tiny/model")
    assert ("automl_tiny", "register_model", dr1.run_id) in events
    assert "automl_downstream_of_tiny" in queued

    # the study storage holds exactly n_trials trials, one per slot key
    study1 = _study(config, dr1.run_id)
    trials = study1.get_trials(deepcopy=False)
    assert len(trials) == config.budget.n_trials == 4
    assert sorted(t.user_attrs["slot_key"] for t in trials) == ["0:0", "0:1", "1:0", "1:1"]
    assert all(t.state == TrialState.COMPLETE for t in trials)

    # MLflow: one parent run for this DAG run, a child run per trial, holdout score, registered model
    parent1 = tracking.find_parent_run(config, study1.study_name)
    assert parent1 is not None
    exp = tracking.experiment_id(config)
    children = tracking.client(config).search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent1}'")
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [t.number for t in trials]
    run1 = tracking.client(config).get_run(parent1)
    assert run1.info.status == "FINISHED"
    assert 0.5 < run1.data.metrics["holdout_roc_auc"] <= 1.0
    assert run1.data.metrics["best_cv_roc_auc"] == pytest.approx(study1.best_value)
    assert run1.data.tags["airflow.run_id"] == dr1.run_id
    versions = tracking.client(config).search_model_versions(f"name = '{config.registered_model_name}'")
    assert [v.run_id for v in versions] == [parent1]
    artifacts = {a.path for a in tracking.client(config).list_artifacts(parent1)}
    assert {"features", "importance", "study_config.json", "plots", "meta"} <= artifacts
    plots = {Path(a.path).name for a in tracking.client(config).list_artifacts(parent1, "plots")}
    assert {
        "study_report.html",
        "optimization_history.png",
        "param_importances.png",
        "parallel_coordinate.png",
        "intermediate_values.png",
    } <= plots

    # the holdout never reached a trial: trials trained on the selected training matrix only
    run_dir = Path(os.environ["AUTOML_HOME"]) / "runs" / study1.study_name
    import pandas as pd

    train = pd.read_parquet(run_dir / "train_features.parquet")
    holdout = pd.read_parquet(run_dir / "holdout_features.parquet")
    assert len(train) + len(holdout) == 569 and len(holdout) == pytest.approx(0.25 * 569, abs=1)

    # a second run (with an override from the trigger form) adds; it overwrites nothing
    dr2 = tiny_dag.test(run_conf={"n_trials": 3})
    assert str(dr2.state) == "success"
    assert dr2.run_id != dr1.run_id
    study2 = _study(config.with_overrides({"n_trials": 3}), dr2.run_id)  # the effective config names the study
    assert len(study2.trials) == 3
    assert len(_study(config, dr1.run_id).trials) == 4
    parent2 = tracking.find_parent_run(config, study2.study_name)
    assert parent2 not in (None, parent1)
    versions = tracking.client(config).search_model_versions(f"name = '{config.registered_model_name}'")
    assert sorted(v.run_id for v in versions) == sorted([parent1, parent2])
    assert tracking.client(config).get_run(parent1).data.metrics == run1.data.metrics

    # meta-learning: the second study was warm-started from the first, through MLflow
    run2 = tracking.client(config).get_run(parent2)
    assert run2.data.tags["automl.warm_start_sources"] == parent1
    assert float(run2.data.tags["meta.log_rows"]) > 2 and run1.data.tags["automl.kb"] == "true"
    seeded = [t for t in sorted(study2.trials, key=lambda t: t.number) if t.system_attrs.get("automl:warm_start")]
    assert [t.number for t in seeded] == [0, 1]  # n_trials=3: two seeded, one left to the sampler
    best1 = sorted(study1.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: -t.value)[:2]
    assert [t.params for t in seeded] == [t.params for t in best1]
    assert all(t.system_attrs["automl:warm_start"]["run_id"] == parent1 for t in seeded)

    # a full re-run of the FIRST DAG run (same run id: every task runs again against the state its first
    # attempt left, as a retry after a late failure would): the same study is reopened and keeps its
    # trials, nothing beyond the budget is added (run 2 is now a warm-start neighbour: not re-seeded),
    # MLflow gets no duplicate parent/child run and no second model version
    before = {t.number: (t.state, t.params, t.value, t.datetime_complete) for t in study1.trials}
    # the same config as run 1 (dag.test keeps run 2's trigger-form values otherwise; a changed effective
    # config is another study: tests/test_study_identity.py)
    dr1b = tiny_dag.test(logical_date=dr1.logical_date, run_after=dr1.run_after, run_conf={"n_trials": 4})
    assert str(dr1b.state) == "success" and dr1b.run_id == dr1.run_id
    assert {ti.try_number for ti in dr1b.get_task_instances()} == {1}  # Airflow's state was reset: all ran again
    again = _study(config, dr1.run_id).trials
    assert {t.number: (t.state, t.params, t.value, t.datetime_complete) for t in again} == before
    assert tracking.find_parent_run(config, study1.study_name) == parent1
    runs = tracking.client(config).search_runs(
        [exp], filter_string=f"tags.`optuna.study_name` = '{study1.study_name}' and tags.`automl.role` = 'parent'"
    )
    assert [r.info.run_id for r in runs] == [parent1]
    children = tracking.client(config).search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent1}'")
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == sorted(before)
    versions = tracking.client(config).search_model_versions(f"name = '{config.registered_model_name}'")
    assert sorted(v.run_id for v in versions) == sorted([parent1, parent2])
