"""The arguments of a study's DAG from its config: schedule, dates, runs, default_args and notifiers."""

from __future__ import annotations

import importlib
import inspect
import os
from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, BaseNotifier, BaseOperator

from automl.config import ConfigError, NotifierConfig, StudyConfig, is_asset_schedule

START_DATE = datetime(2026, 1, 1)
_TIMEDELTA_ARGS = ("execution_timeout", "max_retry_delay")


def schedules_enabled() -> bool:
    """``AUTOML_SCHEDULES=off``: every study DAG runs only when triggered (a sandbox UI, a browser test)."""
    return os.environ.get("AUTOML_SCHEDULES", "on").strip().lower() not in ("off", "0", "false", "no")


def schedule_of(config: StudyConfig) -> str | Asset | None:
    """The config's schedule as Airflow takes it: a preset or cron string, or an Asset for an Asset URI."""
    if not schedules_enabled() or config.schedule is None:
        return None
    return Asset(config.schedule) if is_asset_schedule(config.schedule) else config.schedule


def notifier(spec: NotifierConfig) -> BaseNotifier:
    """Import the notifier class by its (allow-listed) dotted path and build it with its arguments."""
    module, _, name = spec.notifier.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"notifier {spec.notifier}: cannot import it ({type(err).__name__}: {err})") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
        raise ConfigError(f"notifier {spec.notifier}: not an Airflow notifier class (airflow.sdk.BaseNotifier)")
    try:
        return cls(**spec.args)
    except TypeError as err:
        raise ConfigError(f"notifier {spec.notifier}: {err}") from None


class RunCallback:
    """A DAG-run callback that calls a notifier.

    Under ``dag.test()`` the callback's context holds the serialized DAG, which lacks the template
    environment a notifier renders its fields with (apache/airflow#64649, open): the DAG built here
    stands in for it then. Under the scheduler the context's DAG is used as it is.
    """

    def __init__(self, notifier: BaseNotifier) -> None:
        self.notifier = notifier
        self.dag: Any = None

    def __call__(self, context: Any) -> None:
        if self.dag is not None and not hasattr(context.get("dag"), "get_template_env"):
            context = {**context, "dag": self.dag}
        self.notifier(context)


def bind_callbacks(dag: Any) -> Any:
    """Give the DAG's notifier callbacks the DAG itself (see :class:`RunCallback`); return the DAG."""
    for callbacks in (dag.on_failure_callback, dag.on_success_callback):
        for cb in callbacks or []:
            if isinstance(cb, RunCallback):
                cb.dag = dag
    return dag


def default_args(config: StudyConfig) -> dict[str, Any]:
    """The tasks' default_args: the study's retries, the airflow block's pool/queue and other arguments."""
    a = config.airflow
    known = set(inspect.signature(BaseOperator.__init__).parameters)
    unknown = sorted(set(a.default_args) - known)
    if unknown:
        raise ConfigError(f"airflow.default_args: {unknown} are not arguments of an Airflow operator")
    out: dict[str, Any] = {"owner": "automl", **a.default_args}
    for key in _TIMEDELTA_ARGS:
        if isinstance(out.get(key), int | float):
            out[key] = timedelta(seconds=out[key])
    out.update(retries=config.retries, retry_delay=timedelta(seconds=config.retry_delay_s))
    if a.pool:
        out["pool"] = a.pool
    if a.queue:
        out["queue"] = a.queue
    return out


def dag_kwargs(config: StudyConfig) -> dict[str, Any]:
    """Everything the ``@dag`` decorator takes from the config (raises ConfigError naming a bad value)."""
    a = config.airflow
    start = a.start_date or START_DATE
    if not isinstance(start, datetime):
        start = datetime(start.year, start.month, start.day)
    assert isinstance(start, date)
    kwargs: dict[str, Any] = {
        "schedule": schedule_of(config),
        "start_date": start,
        "catchup": a.catchup,
        "max_active_runs": a.max_active_runs,
        "default_args": default_args(config),
    }
    if a.dagrun_timeout_s:
        kwargs["dagrun_timeout"] = timedelta(seconds=a.dagrun_timeout_s)
    if a.on_failure:
        kwargs["on_failure_callback"] = [RunCallback(notifier(n)) for n in a.on_failure]
    if a.on_success:
        kwargs["on_success_callback"] = [RunCallback(notifier(n)) for n in a.on_success]
    return kwargs
