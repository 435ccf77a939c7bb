"""How a study's DAG is scheduled and run by Airflow: the ``airflow:`` block and the ``schedule`` field.

Checked without importing Airflow (the config is read at DAG-parse time and by ``automl validate``):
the schedule with croniter, notifiers by their dotted path against an allow-list of module prefixes
(``airflow.providers.``, ``airflow.sdk.``; more from ``$AUTOML_NOTIFIER_PREFIXES``, comma-separated).
The DAG factory imports the notifier classes and builds the DAG's arguments from this block.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator

from automl.config.base import _Strict

SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
NOTIFIER_PREFIXES = ("airflow.providers.", "airflow.sdk.")
_DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ASSET_RE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def notifier_prefixes() -> tuple[str, ...]:
    extra = [p.strip() for p in os.environ.get("AUTOML_NOTIFIER_PREFIXES", "").split(",") if p.strip()]
    return (*NOTIFIER_PREFIXES, *extra)


def check_schedule(v: str) -> str:
    """A preset (``@daily``), a cron expression (5 or 6 fields) or an Asset URI (``scheme://...``)."""
    v = v.strip()
    if v.startswith("@"):
        if v not in SCHEDULE_PRESETS:
            raise ValueError(f"unknown preset {v!r}; presets: {list(SCHEDULE_PRESETS)}")
        return v
    if _ASSET_RE.match(v):
        return v
    from croniter import croniter

    if not croniter.is_valid(v):
        raise ValueError(
            f"{v!r} is neither a preset {list(SCHEDULE_PRESETS)}, a valid cron expression nor an Asset URI "
            "(scheme://...)"
        )
    return v


def is_asset_schedule(v: str | None) -> bool:
    return v is not None and bool(_ASSET_RE.match(v))


class NotifierConfig(_Strict):
    """An Airflow notifier class by dotted path, and its keyword arguments."""

    notifier: str = Field(
        description="dotted path of the notifier class (e.g. airflow.providers.smtp.notifications.smtp.SmtpNotifier); "
        "allowed prefixes: airflow.providers., airflow.sdk. (more from $AUTOML_NOTIFIER_PREFIXES)"
    )
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the notifier class")

    @field_validator("notifier")
    @classmethod
    def _allowed(cls, v: str) -> str:
        if not _DOTTED_RE.match(v):
            raise ValueError("must be a dotted path module.Class")
        allowed = notifier_prefixes()
        if not v.startswith(allowed):
            raise ValueError(f"{v!r} is not under an allowed prefix {list(allowed)}")
        return v


class AirflowConfig(_Strict):
    """Passed through to the study's DAG (the factory's defaults otherwise)."""

    start_date: date | datetime | None = Field(None, description="the DAG's start_date (default 2026-01-01)")
    catchup: bool = Field(False, description="run the schedule's missed intervals since start_date")
    max_active_runs: int = Field(1, ge=1, le=64, description="DAG runs of this study at once")
    dagrun_timeout_s: int | None = Field(None, ge=1, description="a DAG run running longer fails (seconds)")
    pool: str | None = Field(None, description="Airflow pool of every task")
    queue: str | None = Field(None, description="executor queue of every task")
    default_args: dict[str, Any] = Field(
        default_factory=dict,
        description="more default_args of the tasks (BaseOperator arguments, e.g. owner, email, execution_timeout "
        "in seconds); retries/retry_delay come from the study's retries/retry_delay_s",
    )
    on_failure: list[NotifierConfig] = Field(
        default_factory=list, description="notifiers called when a DAG run fails (on_failure_callback)"
    )
    on_success: list[NotifierConfig] = Field(
        default_factory=list, description="notifiers called when a DAG run succeeds (on_success_callback)"
    )

    @field_validator("default_args")
    @classmethod
    def _not_ours(cls, v: dict[str, Any]) -> dict[str, Any]:
        ours = sorted({"retries", "retry_delay", "pool", "queue"} & set(v))
        if ours:
            raise ValueError(f"set {ours} with the study's retries/retry_delay_s and airflow.pool/queue")
        return v
