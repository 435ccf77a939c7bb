"""The Airflow plugin of the AutoML platform: the MLflow operator extra links, and MLflow in the nav bar.

The study tasks carry the links themselves (``mlflow_links.StudyTaskOperator`` and the sensor), so
Airflow computes them when each task ends; registering them here names them in ``airflow plugins``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from automl.urls import mlflow_ui_base
from automl_airflow.mlflow_links import MlflowExperimentLink, MlflowRunLink


class AutoMLPlugin(AirflowPlugin):
    name = "automl"
    operator_extra_links = [MlflowRunLink(), MlflowExperimentLink()]
    external_views = [
        {
            "name": "MLflow",
            "href": mlflow_ui_base() + "/",
            "destination": "nav",
        }
    ]
