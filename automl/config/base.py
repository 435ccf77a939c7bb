"""Shared pieces of the study config models: the strict base model, the error type, literal types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

TaskType = Literal["classification", "regression"]
Direction = Literal["maximize", "minimize"]
SamplerName = Literal["tpe", "random", "grid", "cmaes", "gp", "nsga2"]  # automl.samplers.SAMPLERS (a test checks)
PrunerName = Literal["none", "asha", "median", "hyperband"]
PruningMode = Literal["central", "in_trial"]


class ConfigError(ValueError):
    """A study config is invalid; the message names every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid study config {source}: {err.error_count()} problem(s)"]
    for e in err.errors():
        parts = list(e["loc"])
        if parts[:1] == ["search_space"] and len(parts) > 3 and parts[3] in ("range", "value"):
            del parts[3]  # the union's branch tag (automl.config.space.ParamOverride), not a field
        loc = ".".join(str(p) for p in parts) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        if e["type"] != "value_error" and isinstance(got, str | int | float | bool) and len(repr(got)) <= 80:
            msg += f" (got {got!r})"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)
