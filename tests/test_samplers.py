"""The sampler registry agrees with the config's names and builds each sampler from a config."""

from __future__ import annotations

from typing import get_args

import optuna
import pytest
from helpers import make_config

from automl.config import SamplerName
from automl.samplers import SAMPLERS, make_sampler


def test_config_names_and_registry_agree() -> None:
    assert set(get_args(SamplerName)) == set(SAMPLERS)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("grid", optuna.samplers.GridSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("gp", optuna.samplers.GPSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
    ],
)
def test_each_name_builds_its_sampler(name: str, cls: type) -> None:
    assert isinstance(make_sampler(make_config(sampler=name)), cls)


def test_grid_covers_the_familys_grid() -> None:
    sampler = make_sampler(make_config(sampler="grid"))
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("C", 1e-4, 1e3, log=True), n_trials=6)
    assert sorted(t.params["C"] for t in study.trials) == [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
