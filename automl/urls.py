"""Links between the Airflow UI and the MLflow UI (plain strings; no MLflow or Airflow import).

The MLflow UI's address is ``$AUTOML_MLFLOW_UI_URL`` (``make ui`` sets it), else the tracking URI
when it is an HTTP server, else ``http://127.0.0.1:5000`` (where ``make ui`` serves it). The Airflow
UI's address is ``$AUTOML_AIRFLOW_UI_URL``, else ``$AIRFLOW__API__BASE_URL``, else
``http://127.0.0.1:8080``.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"
DEFAULT_AIRFLOW_UI = "http://127.0.0.1:8080"


def mlflow_ui_base(tracking_uri: str | None = None) -> str:
    env = os.environ.get("AUTOML_MLFLOW_UI_URL")
    if env:
        return env.rstrip("/")
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return _without_credentials(tracking_uri).rstrip("/")
    return DEFAULT_MLFLOW_UI


def _without_credentials(url: str) -> str:
    """The URL without its user-info and query (a link is shown to everyone)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def airflow_ui_base() -> str:
    base = os.environ.get("AUTOML_AIRFLOW_UI_URL") or os.environ.get("AIRFLOW__API__BASE_URL") or DEFAULT_AIRFLOW_UI
    return base.rstrip("/")


def mlflow_run_url(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def mlflow_experiment_url(base: str, experiment_id: str) -> str:
    return f"{base}/#/experiments/{experiment_id}"


def mlflow_compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's side-by-side comparison of several runs (e.g. the trials one slot ran)."""
    runs = quote(json.dumps(list(run_ids)), safe="")
    experiments = quote(json.dumps([str(experiment_id)]), safe="")
    return f"{base}/#/compare-runs?runs={runs}&experiments={experiments}"


def airflow_dag_run_url(base: str, dag_id: str, run_id: str) -> str:
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
