"""From Airflow to MLflow in one click: operator extra links on the study's tasks.

"MLflow run" opens the study's MLflow parent run (on ``create_study``, the sensor, ``retrain_best``,
``evaluate_holdout``, ``register_model``) or, on a mapped ``run_trial`` slot, the child run of the
trial it ran (several trials: MLflow's side-by-side comparison of them, up to 20; more: the parent run). "MLflow experiment" opens
the study config's experiment.

Airflow 3 computes an operator's extra links in the task's own process when the task ends and
stores each as an XCom (``_link_<class name>``); the API server only reads that XCom. The links
here are built from small XComs (``create_study``'s result: experiment id, parent run id, the MLflow
UI's address; a slot's own result: its child run ids): no MLflow import, no query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.decorator import task_decorator_factory

from automl.urls import mlflow_compare_url, mlflow_experiment_url, mlflow_run_url

STUDY_TASK_ID = "create_study"
MAX_COMPARED = 20  # a slot that ran more trials links to the parent run (its description lists them)


def _pull(ti: Any, **kwargs: Any) -> Any:
    pull = getattr(ti, "xcom_pull", None)
    if pull is None:  # a bare TaskInstanceKey (not the running task): nothing to compute from
        return None
    return pull(**kwargs)


def _study(ti: Any) -> dict[str, Any] | None:
    study = _pull(ti, task_ids=STUDY_TASK_ID)
    if isinstance(study, dict) and study.get("parent_run_id") and study.get("experiment_id"):
        return study
    return None


class MlflowRunLink(BaseOperatorLink):
    """The MLflow run of this task: the study's parent run, or a trial slot's child run(s)."""

    name = "MLflow run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        study = _study(ti_key)
        if study is None:
            return ""
        base, exp = str(study.get("mlflow_ui")), str(study["experiment_id"])
        map_index = getattr(ti_key, "map_index", -1)
        # a trial slot (a mapped task) returns its child runs; the other tasks link to the parent run (pulling
        # their own XCom would log an error for a sensor that has not returned yet)
        own = _pull(ti_key, task_ids=ti_key.task_id, map_indexes=map_index) if map_index >= 0 else None
        runs = list(own.get("mlflow_runs") or []) if isinstance(own, dict) else []
        total = int(own.get("n_mlflow_runs", len(runs))) if isinstance(own, dict) else 0
        if total == 1 and runs:
            return mlflow_run_url(base, exp, runs[0])
        if 1 < total <= MAX_COMPARED and len(runs) == total:
            return mlflow_compare_url(base, exp, runs)
        return mlflow_run_url(base, exp, str(study["parent_run_id"]))  # the study's task, or a long slot


class MlflowExperimentLink(BaseOperatorLink):
    """The study config's MLflow experiment (every run of this study, every DAG run)."""

    name = "MLflow experiment"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        study = _study(ti_key)
        if study is None:
            return ""
        return mlflow_experiment_url(str(study.get("mlflow_ui")), str(study["experiment_id"]))


MLFLOW_LINKS = (MlflowRunLink(), MlflowExperimentLink())


class StudyTaskOperator(_PythonDecoratedOperator):
    """``@task`` with the MLflow extra links."""

    custom_operator_name = "@task"
    operator_extra_links = MLFLOW_LINKS


def study_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task`` for the study's tasks: the same, plus the "MLflow run" and "MLflow experiment" links."""
    return task_decorator_factory(python_callable=python_callable, decorated_operator_class=StudyTaskOperator, **kwargs)
