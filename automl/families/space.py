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

from automl.config import StudyConfig
from automl.families.base import ModelFamily
from automl.families.registry import FAMILIES, family_names
from automl.frames import prepare_frame as prepare_frame  # re-exported: its users import it from here


@cache
def get_family(name: str) -> ModelFamily:
    """The family registered as ``name`` (its module is imported on first use)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {family_names()}")
    module, cls = FAMILIES[name].path.split(":")
    family: ModelFamily = getattr(importlib.import_module(module, package=__package__), cls)()
    return family


class ModelSpace:
    """The search space over one or more model families."""

    def __init__(self, families: list[str]) -> None:
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown model space {unknown}; known: {family_names()}")
        self.families = list(families)

    def _prefix(self, family: str) -> str:
        return f"{family}__" if len(self.families) > 1 else ""

    def suggest(self, trial: optuna.Trial) -> tuple[str, dict[str, Any]]:
        family = trial.suggest_categorical("model", self.families) if len(self.families) > 1 else self.families[0]
        return family, get_family(family).suggest(trial, self._prefix(family))

    def from_params(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Recover (family, family params) from a finished trial's flat params."""
        family = params.get("model", self.families[0])
        prefix = self._prefix(family)
        return family, {k[len(prefix) :]: v for k, v in params.items() if k != "model" and k.startswith(prefix)}

    def grid(self) -> dict[str, list[Any]]:
        if len(self.families) != 1:
            raise ValueError("a grid needs exactly one model family")
        return get_family(self.families[0]).grid()

    def pipeline(self, family: str, params: dict[str, Any], task: str, seed: int) -> Pipeline:
        return get_family(family).pipeline(params, task, seed)


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
