"""The family registry: every entry imports, agrees with its class, and sets the pruning resources."""

from __future__ import annotations

import pytest
from helpers import make_config

from automl.families import FAMILIES, family_names
from automl.families.base import ModelFamily
from automl.families.space import ModelSpace, first_rung, get_family, max_resource


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_entry_imports_and_agrees_with_its_class(name: str) -> None:
    family = get_family(name)
    assert isinstance(family, ModelFamily)
    assert family.name == name
    assert tuple(family.tasks) == FAMILIES[name].tasks
    assert family.grid() and all(isinstance(v, list) and v for v in family.grid().values())


def test_unknown_family_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="known: .*lightgbm"):
        get_family("xgboost_v9")
    with pytest.raises(ValueError, match="unknown model space"):
        ModelSpace(["lightgbm", "xgboost_v9"])
    assert family_names() == sorted(FAMILIES)


def test_multi_family_parameters_are_prefixed_and_recovered() -> None:
    space = ModelSpace(["random_forest", "ridge"])
    flat = {"model": "ridge", "ridge__alpha": 0.5, "random_forest__max_depth": 3}
    assert space.from_params(flat) == ("ridge", {"alpha": 0.5})
    assert ModelSpace(["ridge"]).from_params({"alpha": 2.0}) == ("ridge", {"alpha": 2.0})


@pytest.mark.parametrize(
    ("model_space", "pruning", "budget", "first"),
    [
        (["lightgbm"], {}, {"report_every": 10}, 10),  # the first report
        (["torch_mlp"], {}, {"max_epochs": 30}, 7),  # max_epochs // eta (4): early epochs rank by learning rate
        (["torch_cnn"], {"reduction_factor": 3}, {"max_epochs": 30}, 10),
        (["torch_mlp"], {}, {"max_epochs": 2}, 1),
        (["torch_mlp"], {"min_resource": 1}, {"max_epochs": 30}, 1),  # an explicit rung wins
        (["logistic_regression"], {}, {}, 1),  # one fold at a time
        (["torch_mlp", "logistic_regression"], {}, {"max_epochs": 30}, 1),  # fold-wise models never reach 7
        (["logistic_regression", "lightgbm"], {}, {"report_every": 5}, 5),  # LightGBM's rounds set the unit
    ],
)
def test_first_rung_defaults_per_model_family(model_space: list, pruning: dict, budget: dict, first: int) -> None:
    extra = {
        "dataset": {"source": "sklearn:digits", "target": "target", "image_shape": [8, 8]},
        "metric": "accuracy",
        "features": {"enabled": False, "select": False},
    }
    config = make_config(model_space=model_space, pruning={"rule": "asha", **pruning}, budget=budget, **extra)
    assert first_rung(config) == first


@pytest.mark.parametrize(
    ("model_space", "expected"),
    [(["lightgbm", "torch_mlp"], 300), (["torch_mlp", "random_forest"], 30), (["random_forest", "ridge"], 3)],
)
def test_max_resource_is_the_leading_familys(model_space: list, expected: int) -> None:
    config = make_config(
        model_space=model_space,
        task="regression",
        metric="rmse",
        budget={"max_rounds": 300, "max_epochs": 30, "cv_folds": 3},
    )
    assert max_resource(config) == expected
