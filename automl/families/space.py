"""A study's search space over one or more model families, and the study-wide pruning resources.

With more than one family the trial first picks ``model`` (categorical), then that
family's parameters, prefixed with the family name so conditional parameters never collide.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import optuna
from sklearn.pipeline import Pipeline

from automl.config import SearchSpace, StudyConfig
from automl.families.base import ModelFamily
from automl.families.overrides import Declared, OverriddenTrial, Recorder, check_override, override_grid
from automl.families.registry import FAMILIES, family_names
from automl.frames import prepare_frame as prepare_frame  # re-exported: its users import it from here

#: the categorical parameter that names a trial's model family when the space has several
FAMILY_PARAM = "model"


@cache
def get_family(name: str) -> ModelFamily:
    """The family registered as ``name`` (its module is imported on first use)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {family_names()}")
    module, cls = FAMILIES[name].path.split(":")
    family: ModelFamily = getattr(importlib.import_module(module, package=__package__), cls)()
    return family


class ModelSpace:
    """The search space over one or more model families, with the config's overrides (``search_space``)."""

    def __init__(self, families: list[str], overrides: SearchSpace | None = None) -> None:
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown model space {unknown}; known: {family_names()}")
        self.families = list(families)
        self.overrides = dict(overrides or {})

    @classmethod
    def of(cls, config: StudyConfig) -> ModelSpace:
        return cls(config.model_space, config.search_space)

    def _prefix(self, family: str) -> str:
        return f"{family}__" if len(self.families) > 1 else ""

    def suggest(self, trial: optuna.Trial) -> tuple[str, dict[str, Any]]:
        family = trial.suggest_categorical(FAMILY_PARAM, self.families) if len(self.families) > 1 else self.families[0]
        prefix = self._prefix(family)
        if family in self.overrides:
            trial = OverriddenTrial(trial, prefix, self.overrides[family])  # type: ignore[assignment]
        return family, get_family(family).suggest(trial, prefix)

    def from_params(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Recover (family, family params) from a finished trial's flat params."""
        family = params.get(FAMILY_PARAM, self.families[0])
        prefix = self._prefix(family)
        return family, {k[len(prefix) :]: v for k, v in params.items() if k != FAMILY_PARAM and k.startswith(prefix)}

    def grid(self) -> dict[str, list[Any]]:
        if len(self.families) != 1:
            raise ValueError("a grid needs exactly one model family")
        return override_grid(get_family(self.families[0]).grid(), self.overrides.get(self.families[0], {}))

    def pipeline(self, family: str, params: dict[str, Any], task: str, seed: int) -> Pipeline:
        return get_family(family).pipeline(params, task, seed)


def declared_params(family: str) -> dict[str, Declared]:
    """The family's parameters (both ends of its conditional ones, e.g. a network's layer widths)."""
    out: dict[str, Declared] = {}
    for high in (False, True):
        rec = Recorder(high)
        get_family(family).suggest(rec, "")  # type: ignore[arg-type]
        out.update(rec.params)
    return out


def effective_space(config: StudyConfig) -> dict[str, Any]:
    """The search space a study samples (overrides applied), per family: each parameter's Optuna distribution."""
    out: dict[str, Any] = {}
    for family in config.model_space:
        rec = Recorder(high=False)
        get_family(family).suggest(OverriddenTrial(rec, "", config.search_space.get(family, {})), "")  # type: ignore[arg-type]
        out[family] = {
            name: {"choices": d.choices}
            if d.kind == "categorical"
            else {"type": d.kind, "low": d.low, "high": d.high, "log": d.log, "step": d.step}
            for name, d in rec.params.items()
        }
    return out


def check_search_space(config: StudyConfig) -> list[str]:
    """Every problem of the config's search-space overrides, one line per bad field."""
    problems = []
    for family, overrides in config.search_space.items():
        if family not in config.model_space:
            continue  # the config's own check names it
        declared = declared_params(family)
        for name, o in overrides.items():
            where = f"search_space.{family}.{name}"
            if name not in declared:
                problems.append(f"{where}: unknown parameter; {family}'s parameters: {sorted(declared)}")
            else:
                problems.extend(check_override(where, declared[name], o))
    return problems


def _lead(config: StudyConfig) -> ModelFamily:
    """The family whose step unit the study's pruning rungs count (the highest resource rank)."""
    return max((get_family(f) for f in config.model_space), key=lambda fam: fam.resource_rank)


def first_rung(config: StudyConfig) -> int:
    """The pruning rules' first rung (in the step unit of the searched models)."""
    if config.pruning.min_resource is not None:
        return config.pruning.min_resource
    return _lead(config).first_rung(config)


def max_resource(config: StudyConfig) -> int:
    """The largest step a trial reports (boosting rounds, epochs or folds)."""
    return _lead(config).max_resource(config)
