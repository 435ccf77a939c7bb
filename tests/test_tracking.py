"""MLflow logging is idempotent: re-running a stage or a sync creates no duplicates."""

from pathlib import Path
from typing import Any

import pandas as pd
from helpers import make_config

from automl import tracking
from automl.data import read_dataset
from automl.study import create_or_open, open_study
from automl.worker import run_slot


def test_parent_run_is_reused_and_trials_sync_once(automl_home: Path) -> None:
    cfg = make_config(budget={"n_trials": 3, "trials_per_slot": 3})
    parent = tracking.start_parent_run(cfg, "study-a", {"dag_id": "d", "run_id": "r"}, {"rows": 10}, {})
    assert tracking.start_parent_run(cfg, "study-a", {"dag_id": "d", "run_id": "r"}, {"rows": 10}, {}) == parent
    other = tracking.start_parent_run(cfg, "study-b", {"dag_id": "d", "run_id": "r2"}, {}, {})
    assert other != parent

    create_or_open(cfg, "study-a")
    frame = read_dataset("sklearn:breast_cancer").sample(150, random_state=1)
    X: pd.DataFrame = frame.drop(columns=["target"])
    run_slot(cfg, "study-a", 0, X, frame["target"], parent_run_id=parent)  # logs each trial as it ends
    study = open_study(cfg, "study-a")
    assert tracking.sync_trials(cfg, parent, study) == 0  # all logged already
    assert tracking.sync_trials(cfg, parent, study) == 0

    exp = tracking.experiment_id(cfg)
    children = tracking.client(cfg).search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 3
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [0, 1, 2]
    best = study.best_trial
    (row,) = [r for r in children if r.data.tags["optuna.trial_number"] == str(best.number)]
    assert row.data.metrics["cv_roc_auc"] == best.value
    history = tracking.client(cfg).get_metric_history(row.info.run_id, "cv_roc_auc_running")
    assert [m.step for m in history] == sorted(best.intermediate_values)
    # artifacts stay in the state folder, not ./mlruns
    assert (automl_home / "mlartifacts").exists() or tracking.client(cfg).get_experiment(
        exp
    ).artifact_location.startswith((automl_home / "mlartifacts").as_uri())


def test_a_half_written_child_run_is_rewritten(automl_home: Path) -> None:
    cfg = make_config(budget={"n_trials": 1, "trials_per_slot": 1})
    parent = tracking.start_parent_run(cfg, "study-c", {}, {}, {})
    create_or_open(cfg, "study-c")
    frame = read_dataset("sklearn:breast_cancer").sample(120, random_state=2)
    run_slot(cfg, "study-c", 0, frame.drop(columns=["target"]), frame["target"])  # no MLflow logging
    c = tracking.client(cfg)
    exp = tracking.experiment_id(cfg)
    # an attempt that died mid-logging leaves a RUNNING child run behind
    c.create_run(exp, tags={"mlflow.parentRunId": parent, tracking.TAG_TRIAL: "0"})
    assert tracking.sync_trials(cfg, parent, open_study(cfg, "study-c")) == 1
    runs = c.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert [r.info.status for r in runs] == ["FINISHED"]


def test_parent_note_links_back_to_airflow_and_lists_the_trials(automl_home: Path) -> None:
    from automl.worker import slot_result

    cfg = make_config(budget={"n_trials": 4, "trials_per_slot": 2})
    url = "http://127.0.0.1:8080/dags/d/runs/manual__1"
    parent = tracking.start_parent_run(
        cfg, "study-n", {"dag_id": "d", "run_id": "manual__1", "dag_run_url": url}, {}, {}
    )
    run = tracking.client(cfg).get_run(parent)
    assert run.data.tags[tracking.TAG_DAG_RUN_URL] == url and f"]({url})" in run.data.tags[tracking.TAG_NOTE]
    create_or_open(cfg, "study-n")
    frame = read_dataset("sklearn:breast_cancer").sample(120, random_state=3)
    X, y = frame.drop(columns=["target"]), frame["target"]
    done = {slot: run_slot(cfg, "study-n", slot, X, y, parent_run_id=parent) for slot in (0, 1)}
    study = open_study(cfg, "study-n")
    note = tracking.write_parent_note(cfg, parent, study)
    assert tracking.client(cfg).get_run(parent).data.tags[tracking.TAG_NOTE] == note
    assert note.startswith(f"Airflow DAG run: [d / manual__1]({url})") and "4 trials (n_trials)" in note
    rows = [line for line in note.splitlines() if line.startswith("| ") and "trial-" in line]
    assert len(rows) == 4
    values = [float(r.split("|")[3]) for r in rows]
    assert values == sorted(values, reverse=True) and values[0] == round(study.best_value, 5)  # best first
    # each slot's result names its own trials' child runs (the "MLflow run" extra link of the slot)
    for slot, numbers in done.items():
        result = slot_result(cfg, slot, parent, numbers)
        assert result["trials"] == numbers and len(result["mlflow_runs"]) == result["n_mlflow_runs"] == 2
        tags = [tracking.client(cfg).get_run(r).data.tags for r in result["mlflow_runs"]]
        assert sorted(int(t[tracking.TAG_TRIAL]) for t in tags) == sorted(numbers)
        assert all(t["automl.slot_key"].startswith(f"{slot}:") for t in tags)


def test_workers_log_unpruned_trials_live_and_the_sync_adds_the_pruned(automl_home: Path) -> None:
    """``mlflow_live_trials: unpruned``: a slot logs complete trials as they end; the pruned ones (most trials
    of a pruned search) reach MLflow through the final sync, with the step they stopped at. (The default,
    ``all``, logs every trial as it ends: the ``run_slot`` tests above.)"""
    cfg = make_config(
        budget={"n_trials": 8, "trials_per_slot": 8, "cv_folds": 2, "max_rounds": 60, "report_every": 10},
        pruning={"rule": "asha", "min_resource": 10, "reduction_factor": 3},
        model_space=["lightgbm"],
        mlflow_live_trials="unpruned",
    )
    assert make_config().mlflow_live_trials == "all"
    parent = tracking.start_parent_run(cfg, "study-live", {}, {}, {})
    create_or_open(cfg, "study-live")
    frame = read_dataset("sklearn:breast_cancer").sample(200, random_state=3)
    run_slot(cfg, "study-live", 0, frame.drop(columns=["target"]), frame["target"], parent_run_id=parent)
    study = open_study(cfg, "study-live")
    pruned = {t.number for t in study.trials if t.state.name == "PRUNED"}
    complete = {t.number for t in study.trials if t.state.name == "COMPLETE"}
    assert pruned and complete and len(pruned | complete) == 8

    c, exp = tracking.client(cfg), tracking.experiment_id(cfg)

    def children() -> dict[int, Any]:
        runs = c.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
        return {int(r.data.tags[tracking.TAG_TRIAL]): r for r in runs}

    assert set(children()) == complete  # live: the unpruned trials only
    assert tracking.sync_trials(cfg, parent, study) == len(pruned)
    assert tracking.sync_trials(cfg, parent, study) == 0  # idempotent
    runs = children()
    assert set(runs) == pruned | complete
    for n in pruned:
        assert runs[n].data.tags["optuna.state"] == "PRUNED" and "automl.pruned_at_step" in runs[n].data.tags
