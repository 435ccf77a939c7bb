"""Multi-objective studies: the objectives, the constraints and the NSGA-II operators."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from automl.config.base import Direction, _Strict

#: measured costs a multi-objective study can minimize or constrain (besides its metric)
MEASURES: dict[str, str] = {
    "latency_ms": "median milliseconds to predict one batch (after warm-up, on the device the model runs on)",
    "memory_mb": "peak inference memory in MB (torch: parameters + activations; other models: serialized size)",
    "n_params": "number of trained parameters (torch) or tree nodes / coefficients (other models)",
}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class ObjectiveConfig(_Strict):
    """One objective of a multi-objective study."""

    name: str = Field(description="the study's metric, or a measured cost of the model")
    direction: Direction | None = Field(None, description="default: the metric's own; measures are minimized")


class MultiObjectiveConfig(_Strict):
    """Pareto search over the metric and measured costs, with optional hard constraints.

    Constrained trials are handled by Optuna's constraints support: an infeasible
    trial never enters the reported front and is never retrained.
    """

    objectives: list[ObjectiveConfig] = Field(
        min_length=2, max_length=4, description="the metric and the costs to trade off (names or mappings)"
    )
    constraints: list[str] = Field(default_factory=list, description="e.g. 'latency_ms <= 5', 'accuracy >= 0.9'")
    pick: Literal["best_metric", "knee"] = Field(
        "best_metric", description="which front point is retrained: best metric, or the knee (balanced) point"
    )
    reference_point: dict[str, float] = Field(
        default_factory=dict, description="hypervolume reference per objective (default: constraint or worst value)"
    )
    latency_batch_size: int = Field(256, ge=1, le=100_000, description="rows per batch when latency is measured")
    latency_repeats: int = Field(15, ge=3, le=1000, description="timed predictions whose median is the latency")
    population_size: int = Field(10, ge=2, le=1000, description="nsga2: population per generation")
    crossover: Literal["uniform", "sbx", "blxalpha", "vsbx"] = Field(
        "uniform", description="nsga2: crossover of numeric parameters (Optuna's; categorical ones always uniform)"
    )
    mutation: Literal["resample", "polynomial"] = Field(
        "resample",
        description="nsga2: 'resample' draws a mutated parameter anew; 'polynomial' moves it near its value "
        "(Deb's polynomial mutation, Optuna's PolynomialMutation)",
    )

    @field_validator("objectives", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return [{"name": o} if isinstance(o, str) else o for o in v] if isinstance(v, list) else v

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not _CONSTRAINT_RE.match(c)]
        if bad:
            raise ValueError(f"cannot read constraint(s) {bad}: write 'name <= number' or 'name >= number'")
        return v

    def parsed_constraints(self) -> list[tuple[str, str, float]]:
        out = []
        for c in self.constraints:
            m = _CONSTRAINT_RE.match(c)
            assert m is not None
            out.append((m.group(1), m.group(2), float(m.group(3))))
        return out
