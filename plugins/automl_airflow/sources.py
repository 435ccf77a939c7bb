"""The dataset source inside a DAG run: the trigger-form fields, Airflow templates, connections.

* ``source`` (a path/URI) or ``sql`` (the query of a SQL source) is a field of the trigger form whose
  default is the config's; either may use Airflow's template variables (``{{ ds }}``), rendered here
  with the task's context, per run.
* A ``{conn_id, sql}`` source: the connection is resolved with its provider's hook and its SQLAlchemy
  URL is put in the task's environment (``automl.data.conn_env_var``) only while the stage reads the
  data: never in XCom, a file or a log line. ``automl`` itself imports no Airflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Param

from automl.config import SqlSourceConfig, StudyConfig

SOURCE_KEYS = ("source", "sql")


def source_params(config: StudyConfig) -> dict[str, Param]:
    """The trigger form's data field: the file/URI of a file source, or the query of a SQL source."""
    src = config.dataset.source
    if isinstance(src, SqlSourceConfig):
        return {
            "sql": Param(
                src.sql,
                type="string",
                minLength=1,
                title="SQL query",
                description=f"The query returning the training rows ({src.label}); Airflow templates such as "
                "{{ ds }} are rendered per run.",
            )
        }
    if isinstance(src, str):
        return {
            "source": Param(
                src,
                type="string",
                minLength=1,
                title="Data source",
                description="'sklearn:<name>', a path (relative: to the study file's folder) or a URI "
                "(s3://, gs://, https://, file://); Airflow templates such as {{ ds }} are rendered per run.",
            )
        }
    return {}


def render_source_params(params: dict[str, Any], context: Any) -> dict[str, Any]:
    """The params with ``source``/``sql`` rendered as Jinja templates with the running task's context."""
    out = dict(params)
    for key in SOURCE_KEYS:
        if isinstance(out.get(key), str) and "{{" in out[key]:
            out[key] = context["task"].render_template(out[key], context)
    return out


@contextmanager
def connection_env(config: StudyConfig) -> Iterator[None]:
    """While the block runs, the SQL source's connection URL is in ``$AUTOML_CONN_<ID>`` (then removed)."""
    from automl.data import conn_env_var

    src = config.dataset.source
    if not (isinstance(src, SqlSourceConfig) and src.conn_id):
        yield
        return
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(src.conn_id).get_hook()
    try:
        url = hook.sqlalchemy_url.render_as_string(hide_password=False)
    except (AttributeError, NotImplementedError):
        url = hook.get_uri()
    var = conn_env_var(src.conn_id)
    previous = os.environ.get(var)
    os.environ[var] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = previous
