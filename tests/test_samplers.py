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


def test_fixed_params_sampler_fixes_named_parameters_only_while_set() -> None:
    import optuna

    from automl.samplers import FixedParamsSampler

    sampler = FixedParamsSampler(optuna.samplers.RandomSampler(seed=0))
    study = optuna.create_study(sampler=sampler)
    sampler.fixed = {"op": "attn", "x": 0.25}
    t = study.ask()
    assert (t.suggest_categorical("op", ["conv", "attn", "skip"]), t.suggest_float("x", 0, 1)) == ("attn", 0.25)
    assert 0 <= t.suggest_float("y", 0, 1) <= 1  # not fixed: sampled
    study.tell(t, 0.0)
    sampler.fixed = {}
    drawn = set()
    for _ in range(20):
        t = study.ask()
        drawn.add(t.suggest_categorical("op", ["conv", "attn", "skip"]))
        study.tell(t, 0.0)
    assert drawn == {"conv", "attn", "skip"}
    assert study.trials[0].distributions["op"] == study.trials[1].distributions["op"]  # one search space
