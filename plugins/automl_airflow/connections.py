"""Credentials from Airflow Connections (``storage_conn_id``, ``tracking_conn_id``), into the environment.

A task resolves the study's connections (Airflow's secrets backends apply) and puts the values in
its own process environment, where ``automl`` reads them (``AUTOML_STORAGE``, ``MLFLOW_TRACKING_URI``,
``MLFLOW_TRACKING_USERNAME``/``PASSWORD``/``TOKEN``) and where the trial workers it starts inherit
them. Nothing is returned, so nothing reaches XCom, a file or a rendered field; every secret is
registered with Airflow's masker, so a log line that quotes one shows ``***``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from automl.config import StudyConfig

_DB_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}


def storage_url_of(conn: Any) -> str:
    """An Optuna storage URL from a connection: postgres/mysql (host, login, password, schema),
    ``sqlite`` (host = the file), ``grpc`` (host, port: the storage proxy), or ``extra.url``."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    kind = (conn.conn_type or "").lower()
    if kind in _DB_SCHEMES:
        auth = ""
        if conn.login:
            auth = quote(conn.login, safe="")
            if conn.password:
                auth += ":" + quote(conn.password, safe="")
            auth += "@"
        port = f":{conn.port}" if conn.port else ""
        return f"{_DB_SCHEMES[kind]}://{auth}{conn.host}{port}/{conn.schema or ''}"
    if kind == "sqlite":
        return f"sqlite:///{conn.host}"
    if kind == "grpc":
        return f"grpc://{conn.host}:{conn.port}"
    raise ValueError(
        f"connection {conn.conn_id!r}: type {conn.conn_type!r} is not a study storage (postgres, mysql, sqlite, grpc)"
    )


def tracking_env_of(conn: Any) -> dict[str, str]:
    """MLflow's environment from a connection: the URI without credentials, the credentials apart."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        uri = str(extra["url"])
    else:
        scheme = conn.schema if conn.schema in ("http", "https") else "https"
        port = f":{conn.port}" if conn.port else ""
        uri = f"{scheme}://{conn.host}{port}"
    env = {"MLFLOW_TRACKING_URI": uri}
    if conn.login:
        env["MLFLOW_TRACKING_USERNAME"] = conn.login
    if conn.password:
        key = "MLFLOW_TRACKING_PASSWORD" if conn.login else "MLFLOW_TRACKING_TOKEN"
        env[key] = conn.password
    return env


def apply_connections(config: StudyConfig) -> None:
    """Resolve the config's connections into this process's environment (no-op without any)."""
    if not (config.storage_conn_id or config.tracking_conn_id):
        return
    from airflow.sdk import Connection
    from airflow.sdk.log import mask_secret

    env: dict[str, str] = {}
    if config.storage_conn_id:
        conn = Connection.get(config.storage_conn_id)
        if conn.password:
            mask_secret(conn.password)
        env["AUTOML_STORAGE"] = storage_url_of(conn)
    if config.tracking_conn_id:
        conn = Connection.get(config.tracking_conn_id)
        if conn.password:
            mask_secret(conn.password)
        env.update(tracking_env_of(conn))
    os.environ.update(env)
