"""The config's search-space overrides (``search_space``), applied to a family's ``suggest_*`` calls.

The families declare their spaces with Optuna's ``trial.suggest_*`` calls; nothing in them changes.
:class:`OverriddenTrial` wraps the trial a family samples from and replaces a call's ``low``/``high``/
``log``/``step`` or ``choices`` with the config's, or turns it into a one-value categorical (a fixed
parameter: stored in the trial like any other, so the refit and the leaderboard see it).
:class:`Recorder` stands in for a trial to record what a family suggests (no study), and
:func:`check_override` checks one override against it (``automl.families.space.check_search_space``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import optuna

from automl.config import ParamRange
from automl.config.space import ParamOverride

Kind = Literal["int", "float", "categorical"]


@dataclass
class Declared:
    """One parameter as a family suggests it."""

    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)


class Recorder:
    """Stands in for a trial: records each suggest call, answers its low end (or its high end)."""

    def __init__(self, high: bool) -> None:
        self.high, self.params = high, dict[str, Declared]()

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = Declared("int", low, high, log, step)
        return high if self.high else low

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        self.params[name] = Declared("float", low, high, log, step)
        return high if self.high else low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.params[name] = Declared("categorical", choices=list(choices))
        return choices[-1] if self.high else choices[0]


def _a(kind: Kind) -> str:
    return "an int" if kind == "int" else f"a {kind}"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_override(where: str, d: Declared, o: ParamOverride) -> list[str]:
    if not isinstance(o, ParamRange):
        if d.kind == "categorical":
            return [] if o in d.choices else [f"{where}: {o!r} is not one of the parameter's choices {d.choices}"]
        if not _number(o) or (d.kind == "int" and not isinstance(o, int)):
            return [f"{where}: wrong type: {_a(d.kind)} parameter, got {o!r}"]
        return []
    if o.choices is not None:
        if d.kind == "categorical":
            extra = [c for c in o.choices if c not in d.choices]
            return [f"{where}.choices: {extra} are not among the parameter's choices {d.choices}"] if extra else []
        bad = [c for c in o.choices if not _number(c) or (d.kind == "int" and not isinstance(c, int))]
        return [f"{where}.choices: wrong type: {_a(d.kind)} parameter, got {bad}"] if bad else []
    if d.kind == "categorical":
        return [f"{where}: a categorical parameter (choices {d.choices}); use 'choices' or a plain value"]
    problems = [
        f"{where}.{k}: wrong type: an int parameter, got {getattr(o, k)!r}"
        for k in ("low", "high", "step")
        if d.kind == "int" and getattr(o, k) is not None and not isinstance(getattr(o, k), int)
    ]
    low, high, log, step = merged(d, o)
    if low > high:
        problems.append(f"{where}: low ({low}) > high ({high})")
    if log and low <= 0:
        problems.append(f"{where}: log scale needs low > 0 (low is {low})")
    if log and step not in (None, 1 if d.kind == "int" else None):
        problems.append(f"{where}: 'log' and 'step' cannot be combined (set log: false with a step)")
    return problems


def merged(d: Declared, o: ParamRange) -> tuple[Any, Any, bool, Any]:
    log = d.log if o.log is None else o.log
    step = o.step if o.step is not None else (d.step if not (o.log and d.kind == "float") else None)
    if d.kind == "int" and o.log and o.step is None:
        step = 1
    return (d.low if o.low is None else o.low), (d.high if o.high is None else o.high), log, step


class OverriddenTrial:
    """A trial whose ``suggest_*`` calls apply one family's overrides (names carry the study's prefix)."""

    def __init__(self, trial: optuna.Trial, prefix: str, overrides: dict[str, ParamOverride]) -> None:
        self._trial, self._prefix, self._overrides = trial, prefix, overrides

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def _override(self, name: str) -> ParamOverride | None:
        return self._overrides.get(name[len(self._prefix) :]) if name.startswith(self._prefix) else None

    def _numeric(self, kind: Kind, name: str, low: Any, high: Any, step: Any, log: bool) -> Any:
        o = self._override(name)
        if o is None:
            return getattr(self._trial, f"suggest_{kind}")(name, low, high, step=step, log=log)
        if not isinstance(o, ParamRange):
            return self._trial.suggest_categorical(name, [o])
        if o.choices is not None:
            return self._trial.suggest_categorical(name, o.choices)
        low, high, log, step = merged(Declared(kind, low, high, log, step), o)
        return getattr(self._trial, f"suggest_{kind}")(name, low, high, step=step, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        value: int = self._numeric("int", name, low, high, step, log)
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        value: float = self._numeric("float", name, low, high, step, log)
        return value

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        o = self._override(name)
        if o is None:
            return self._trial.suggest_categorical(name, choices)
        values: list[Any] = list(o.choices or []) if isinstance(o, ParamRange) else [o]
        return self._trial.suggest_categorical(name, values)


def override_grid(grid: dict[str, list[Any]], overrides: dict[str, ParamOverride]) -> dict[str, list[Any]]:
    """The grid sampler's grid with the overrides applied (a fixed value or choices replace the values;
    a range keeps the values inside it, or its ends when none is)."""
    out = dict(grid)
    for name, o in overrides.items():
        if not isinstance(o, ParamRange):
            out[name] = [o]
        elif o.choices is not None:
            out[name] = list(o.choices)
        elif name in out:
            low = o.low if o.low is not None else min(out[name])
            high = o.high if o.high is not None else max(out[name])
            out[name] = [v for v in out[name] if low <= v <= high] or sorted({low, high})
    return out
