"""Airflow connections into the task's environment: URLs built from the connection's fields."""

from __future__ import annotations

import pytest


def _conn(**kw):  # type: ignore[no-untyped-def]
    from airflow.sdk import Connection

    return Connection(conn_id="c", **kw)


def test_storage_url_of_a_postgres_connection_quotes_the_password() -> None:
    from automl_airflow.connections import storage_url_of

    url = storage_url_of(
        _conn(conn_type="postgres", host="db", port=5432, login="u", password="p@ss:w/rd", schema="optuna")
    )
    assert url == "postgresql+psycopg://u:p%40ss%3Aw%2Frd@db:5432/optuna"
    from sqlalchemy.engine import make_url

    assert make_url(url).password == "p@ss:w/rd"  # what the driver will receive
    assert storage_url_of(_conn(conn_type="grpc", host="proxy", port=13000)) == "grpc://proxy:13000"
    with pytest.raises(ValueError, match="not a study storage"):
        storage_url_of(_conn(conn_type="http", host="x"))


def test_tracking_credentials_go_to_mlflow_variables_not_the_url() -> None:
    from automl_airflow.connections import tracking_env_of

    env = tracking_env_of(_conn(conn_type="http", host="mlflow.internal", schema="https", login="me", password="pw"))
    assert env == {
        "MLFLOW_TRACKING_URI": "https://mlflow.internal",
        "MLFLOW_TRACKING_USERNAME": "me",
        "MLFLOW_TRACKING_PASSWORD": "pw",
    }
    token = tracking_env_of(_conn(conn_type="http", host="m", port=5000, schema="http", password="tok"))
    assert token == {"MLFLOW_TRACKING_URI": "http://m:5000", "MLFLOW_TRACKING_TOKEN": "tok"}
