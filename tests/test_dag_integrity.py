"""Every DAG file imports cleanly; every DAG has tags, docs and retries; the graph is the designed one."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dag_files_import_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found in dags/"


def test_one_dag_per_study_config(dagbag) -> None:  # type: ignore[no-untyped-def]
    stems = {p.stem for p in (ROOT / "dags" / "studies").glob("*.yaml")}
    assert {f"automl_{s}" for s in stems} == set(dagbag.dag_ids)


def test_every_dag_has_tags_docs_and_retries(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag in dagbag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag.dag_id}.{t.task_id} has no retries"
            if t.task_id == "pruning_sensor":  # Airflow's stale-poke race (apache/airflow#71172) may cost a retry
                assert t.retries >= 3, f"{dag.dag_id}.pruning_sensor has {t.retries} retries"


def test_graph_matches_the_design(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["automl_demo_breast_cancer"]
    down = {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}
    assert down["load_data"] == {"generate_features", "create_study", "register_model"}  # raw rows for the model
    assert down["generate_features"] == {"select_features"}
    assert down["select_features"] == {"create_study", "retrain_best", "evaluate_holdout", "register_model"}
    assert {"run_trial", "pruning_sensor", "trial_slots", "check_search"} <= down["create_study"]
    # the watcher runs once every slot ended, whatever their states; the model is built only if it passes
    assert down["run_trial"] == {"check_search"} and down["pruning_sensor"] == {"check_search"}
    assert dag.task_dict["check_search"].trigger_rule == "all_done"
    assert down["check_search"] == {"retrain_best"} and dag.task_dict["retrain_best"].trigger_rule == "all_success"
    assert "run_trial" not in down["pruning_sensor"] and "pruning_sensor" not in down["run_trial"]  # side by side
    assert "evaluate_holdout" in down["retrain_best"] and "register_model" in down["evaluate_holdout"]
    assert dag.task_dict["pruning_sensor"].mode == "reschedule"
    assert dag.task_dict["run_trial"].max_active_tis_per_dagrun == 2
    assert dag.timetable.expression == "0 2 * * *" and dag.catchup is False
    # register_model emits the study's model Asset (a scoring DAG may follow it)
    assert [a.uri for a in dag.task_dict["register_model"].outlets] == ["automl://demo_breast_cancer/model"]


def test_the_dag_is_the_declared_pipeline(dagbag) -> None:  # type: ignore[no-untyped-def]
    """One chain, declared once: every stage is a task whose upstream tasks are exactly its declared
    inputs (plus the slots and the sensor after the search), in the declared order."""
    from automl.pipeline import PIPELINE, Search, Stage

    dag = dagbag.dags["automl_demo_breast_cancer"]
    search = next(s for s in PIPELINE if isinstance(s, Search))
    after_search = PIPELINE[PIPELINE.index(search) + 1]
    for step in PIPELINE:
        if isinstance(step, Stage):
            expected = set(step.inputs.values())
            if step is after_search:
                expected |= {search.name, search.monitor}
            assert dag.task_dict[step.name].upstream_task_ids == expected, step.name
            assert dag.task_dict[step.name].trigger_rule == step.trigger_rule
    assert dag.task_dict[search.monitor].upstream_task_ids == {search.study}


def test_trigger_form_is_validated(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.dags["automl_demo_breast_cancer"]
    assert {"n_trials", "timeout_s", "sampler", "parallelism"} <= set(dag.params)
    dag.params.validate()  # the config's defaults are valid
    assert dag.params["n_trials"] == 24 and dag.params["sampler"] == "tpe"
    for key, bad in (("n_trials", 0), ("sampler", "annealing"), ("parallelism", 99), ("timeout_s", "soon")):
        with pytest.raises(ParamValidationError):
            dag.params.get_param(key).resolve(bad)
    assert dag.params.get_param("timeout_s").resolve(None) is None


def test_invalid_config_gives_a_visible_failing_dag(tmp_path: Path) -> None:
    from automl_airflow.factory import build_dags

    (tmp_path / "good.yaml").write_text(
        (ROOT / "dags" / "studies" / "demo_breast_cancer.yaml")
        .read_text()
        .replace("name: demo_breast_cancer", "name: good")
    )
    (tmp_path / "broken.yaml").write_text("name: broken\ntask: classification\nmodel_space: [nope]\n")
    dags = build_dags(tmp_path)
    assert set(dags) == {"automl_good", "automl_broken__invalid_config"}
    broken = dags["automl_broken__invalid_config"]
    assert "model_space" in broken.doc_md and "dataset" in broken.doc_md
