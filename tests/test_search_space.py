"""Search-space overrides in the config (Optuna's terms), sampler and pruner options."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from helpers import make_config

from automl.config import ConfigError
from automl.families.space import ModelSpace
from automl.study import check_search_config

NARROW = {
    "lightgbm": {"num_leaves": {"low": 8, "high": 32}, "learning_rate": 0.05, "subsample": {"choices": [0.7, 0.9]}}
}


@pytest.mark.slow
def test_trials_stay_inside_the_narrowed_space(automl_home: Path) -> None:
    """A real (small) study: every trial in the study storage lies inside the narrowed space; the
    effective space is an artifact of the MLflow parent run."""
    from automl import tracking
    from automl.pipeline import LocalRunner
    from automl.study import open_study

    cfg = make_config(
        model_space=["lightgbm"],
        search_space=NARROW,
        sampler="tpe",
        sampler_options={"n_startup_trials": 2},
        features={"enabled": False, "select": False},
        budget={"n_trials": 4, "parallelism": 2, "trials_per_slot": 2, "max_rounds": 30, "report_every": 10},
        warm_start={"enabled": False},
    )
    result = LocalRunner(cfg, poke_s=0.5, until="run_trial").run()
    trials = open_study(cfg, result.study_name).get_trials(deepcopy=False)
    assert len(trials) == 4
    for t in trials:
        assert 8 <= t.params["num_leaves"] <= 32, t.params
        assert t.params["learning_rate"] == 0.05
        assert t.params["subsample"] in (0.7, 0.9)
        assert t.distributions["num_leaves"] == optuna.distributions.IntDistribution(8, 32, log=True)
    assert len({t.params["num_leaves"] for t in trials}) > 1  # still searched, inside the range
    parent = tracking.find_parent_run(cfg, result.study_name)
    assert parent is not None
    path = tracking.client(cfg).download_artifacts(parent, "search_space.json", str(automl_home))
    space = json.loads(Path(path).read_text())["lightgbm"]
    assert space["num_leaves"] == {"type": "int", "low": 8, "high": 32, "log": True, "step": 1}
    assert space["learning_rate"] == {"choices": [0.05]}


def test_fixed_and_narrowed_parameters_reach_the_refit() -> None:
    cfg = make_config(model_space=["lightgbm", "logistic_regression"], search_space={"logistic_regression": {"C": 2.5}})
    space = ModelSpace.of(cfg)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"model": "logistic_regression"})
    trial = study.ask()
    family, params = space.suggest(trial)
    assert (family, params) == ("logistic_regression", {"C": 2.5})
    study.tell(trial, 0.5)
    assert space.from_params(study.trials[0].params) == ("logistic_regression", {"C": 2.5})


def test_grid_sampler_takes_the_overrides() -> None:
    grid = ModelSpace(["lightgbm"], make_config(model_space=["lightgbm"], search_space=NARROW).search_space).grid()
    assert grid["num_leaves"] == [8, 31] and grid["learning_rate"] == [0.05] and grid["subsample"] == [0.7, 0.9]


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"lightgbm": {"num_leafs": {"low": 8}}}, "search_space.lightgbm.num_leafs: unknown parameter"),
        (
            {"lightgbm": {"num_leaves": {"low": 40, "high": 8}}},
            "search_space.lightgbm.num_leaves: low (40) > high (8)",
        ),
        ({"lightgbm": {"num_leaves": {"low": 200}}}, "search_space.lightgbm.num_leaves: low (200) > high (128)"),
        ({"lightgbm": {"num_leaves": {"low": 8.5}}}, "search_space.lightgbm.num_leaves.low: wrong type: an int"),
        ({"lightgbm": {"learning_rate": "fast"}}, "search_space.lightgbm.learning_rate: wrong type: a float"),
        ({"lightgbm": {"num_leaves": [8, 16]}}, "search_space.lightgbm.num_leaves: must be a plain value"),
        ({"logistic_regression": {"C": 1.0}}, "search_space: 'logistic_regression' is not a family of model_space"),
    ],
)
def test_a_bad_override_is_one_clear_error_naming_the_field(space: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_search_config(make_config(model_space=["lightgbm"], search_space=space))
    assert needle in str(err.value)
    assert "1 problem(s)" in str(err.value)


def test_sampler_and_pruner_options_are_checked_and_used() -> None:
    from automl.pruning.control import make_worker_pruner
    from automl.samplers import make_sampler

    with pytest.raises(ConfigError, match=r"sampler_options.n_startup: TPESampler takes no argument"):
        check_search_config(make_config(sampler="tpe", sampler_options={"n_startup": 3}))
    with pytest.raises(ConfigError, match=r"sampler_options.seed: set by the platform"):
        check_search_config(make_config(sampler="random", sampler_options={"seed": 3}))
    with pytest.raises(ConfigError, match=r"pruning.options.bogus: MedianPruner takes no argument"):
        check_search_config(make_config(pruning={"rule": "median", "mode": "in_trial", "options": {"bogus": 1}}))
    with pytest.raises(ConfigError, match="need mode 'in_trial'"):
        make_config(pruning={"rule": "asha", "options": {"bootstrap_count": 1}})
    cfg = make_config(
        sampler="tpe",
        sampler_options={"n_startup_trials": 3},
        pruning={"rule": "median", "mode": "in_trial", "options": {"n_warmup_steps": 2}},
    )
    check_search_config(cfg)
    sampler = make_sampler(cfg)
    assert isinstance(sampler, optuna.samplers.TPESampler) and sampler._n_startup_trials == 3
    pruner = make_worker_pruner(cfg)
    assert isinstance(pruner, optuna.pruners.MedianPruner) and pruner._n_warmup_steps == 2
