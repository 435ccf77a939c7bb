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

    path: str  # "module:ClassName"
    tasks: tuple[str, ...]
    pixel_input: bool = False  # reads the columns as image pixels: needs dataset.image_shape, no feature step


FAMILIES: dict[str, FamilyEntry] = {
    "lightgbm": FamilyEntry("automl.families.lightgbm:LightGBMFamily", ("classification", "regression")),
    "random_forest": FamilyEntry("automl.families.random_forest:RandomForestFamily", ("classification", "regression")),
    "logistic_regression": FamilyEntry("automl.families.linear:LogisticRegressionFamily", ("classification",)),
    "ridge": FamilyEntry("automl.families.linear:RidgeFamily", ("regression",)),
    "torch_mlp": FamilyEntry("automl.families.torch_mlp:TorchMLPFamily", ("classification", "regression")),
    "torch_cnn": FamilyEntry("automl.families.torch_cnn:TorchCNNFamily", ("classification",), pixel_input=True),
}


def family_names() -> list[str]:
    return sorted(FAMILIES)
