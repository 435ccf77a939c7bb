"""Search-space overrides in the study config, in Optuna's terms (``suggest_*`` arguments).

Per model family, per parameter: a mapping of ``low``/``high``/``log``/``step`` (narrow or reshape a
numeric range), or ``choices`` (the values to choose from), or a plain value (the parameter is fixed).
Only the shape is checked here (the config is read at DAG-parse time, without the families' modules);
``automl.families.space.check_search_space`` checks every override against the family's parameters.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from automl.config.base import _Strict

Scalar = bool | int | float | str


class ParamRange(_Strict):
    """A parameter's search range or choices, replacing the family's default (unset fields keep it)."""

    low: int | float | None = Field(None, description="smallest value (suggest_int/suggest_float 'low')")
    high: int | float | None = Field(None, description="largest value (suggest_int/suggest_float 'high')")
    log: bool | None = Field(None, description="sample on a log scale")
    step: int | float | None = Field(None, gt=0, description="discretization step (not with log)")
    choices: list[Scalar] | None = Field(
        None, min_length=1, description="the values to choose from (suggest_categorical); not with low/high/log/step"
    )

    @model_validator(mode="after")
    def _coherent(self) -> ParamRange:
        given = {k for k in ("low", "high", "log", "step", "choices") if getattr(self, k) is not None}
        if not given:
            raise ValueError("give low/high/log/step, or choices, or a plain value to fix the parameter")
        if self.choices is not None and given != {"choices"}:
            raise ValueError("'choices' cannot be combined with low/high/log/step")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) > high ({self.high})")
        if self.log and self.step is not None:
            raise ValueError("'log' and 'step' cannot be combined (Optuna)")
        if self.log and self.low is not None and self.low <= 0:
            raise ValueError(f"log scale needs low > 0 (got {self.low})")
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def _scalar(v: Any) -> Any:
    if not isinstance(v, bool | int | float | str):
        raise ValueError(
            f"must be a plain value (fixes the parameter) or a mapping of low/high/log/step or choices, "
            f"not {type(v).__name__}"
        )
    return v


def _kind(v: Any) -> str:
    return "range" if isinstance(v, dict | ParamRange) else "value"


ParamOverride = Annotated[
    Annotated[ParamRange, Tag("range")] | Annotated[Scalar, BeforeValidator(_scalar), Tag("value")],
    Discriminator(_kind),
]
SearchSpace = dict[str, dict[str, ParamOverride]]

SEARCH_SPACE_DESCRIPTION = (
    "per model family, per parameter: {low, high, log, step} or {choices: [...]} replacing the family's "
    "default range, or a plain value fixing the parameter; e.g. {lightgbm: {num_leaves: {low: 8, high: 32}, "
    "learning_rate: 0.05}}"
)
