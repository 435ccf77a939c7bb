"""The model families a study may search, by name.

Imported at DAG-parse time (``automl.config`` validates family names and tasks against it),
so this module is data only: each entry names its class by import path and carries what
the config checks; ``automl.families.space.get_family`` imports the class on first use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyEntry:
    """One registered family: where its class lives and what a study config must agree with."""

    path: str  # "module:ClassName", the module relative to automl.families when it starts with "."
    tasks: tuple[str, ...]
    pixel_input: bool = False  # reads the columns as image pixels: needs dataset.image_shape, no feature step
    sequence_input: bool = False  # with pixel_input: dataset.sequence_shape (steps x features) will do instead


CLS, REG, BOTH = ("classification",), ("regression",), ("classification", "regression")

#: name -> entry; an entry's path is relative to this package (".module:Class") or absolute
FAMILIES: dict[str, FamilyEntry] = {
    "lightgbm": FamilyEntry(".lightgbm:LightGBMFamily", BOTH),
    "random_forest": FamilyEntry(".random_forest:RandomForestFamily", BOTH),
    "logistic_regression": FamilyEntry(".linear:LogisticRegressionFamily", CLS),
    "ridge": FamilyEntry(".linear:RidgeFamily", REG),
    "torch_mlp": FamilyEntry(".torch_mlp:TorchMLPFamily", BOTH),
    "hist_gradient_boosting": FamilyEntry(".hist_gradient_boosting:HistGradientBoostingFamily", BOTH),
    "torch_cnn": FamilyEntry(".torch_cnn:TorchCNNFamily", CLS, pixel_input=True),
    "torch_hybrid": FamilyEntry(".torch_hybrid:TorchHybridFamily", CLS, pixel_input=True, sequence_input=True),
}


def family_names() -> list[str]:
    return sorted(FAMILIES)
