"""Multi-objective studies: config validation, constraints keep infeasible trials off the front,
the configured front point is picked, and a real worker slot runs a CNN Pareto study."""

from pathlib import Path

import optuna
import pytest
from helpers import make_config
from optuna.trial import TrialState

from automl.config import ConfigError
from automl.data import read_dataset
from automl.multiobjective.study import front, is_feasible, pick, reference_point, study_hypervolume
from automl.samplers import make_sampler
from automl.study import create_or_open, leaderboard, open_study, progress
from automl.worker import record_constraints, run_slot

MO = {
    "objectives": ["accuracy", "latency_ms", "memory_mb"],
    "constraints": ["latency_ms <= 2", "accuracy >= 0.5"],
}


def mo_config(**overrides):
    base = {
        "metric": "accuracy",
        "model_space": ["logistic_regression"],
        "sampler": "nsga2",
        "multi_objective": MO,
        "warm_start": {"enabled": False},
    }
    return make_config(**{**base, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"multi_objective": {"objectives": ["latency_ms", "memory_mb"]}}, "must include the study metric"),
        ({"multi_objective": {"objectives": ["accuracy", "speed"]}}, "unknown 'speed'"),
        (
            {"multi_objective": {"objectives": ["accuracy", {"name": "latency_ms", "direction": "maximize"}]}},
            "'latency_ms' is better minimized",
        ),
        (
            {"multi_objective": {"objectives": ["accuracy", "latency_ms"], "constraints": ["latency < 3"]}},
            "cannot read",
        ),
        ({"sampler": "cmaes"}, "'cmaes' is single-objective"),
        ({"pruning": {"rule": "median"}}, "support 'asha' (MO-ASHA) or 'none'"),
        ({"model_space": ["torch_cnn"]}, "needs dataset.image_shape"),
        ({"multi_objective": {**MO, "crossover": "pmx"}}, "crossover"),
        ({"multi_objective": {**MO, "mutation": "gauss"}}, "mutation"),
    ],
)
def test_bad_multi_objective_configs_name_the_problem(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mo_config(**overrides)


@pytest.mark.parametrize(("crossover", "mutation"), [("uniform", "resample"), ("sbx", "polynomial")])
def test_nsga2_operators_come_from_the_config_and_breed_within_bounds(crossover: str, mutation: str) -> None:
    config = mo_config(multi_objective={**MO, "population_size": 4, "crossover": crossover, "mutation": mutation})
    sampler = make_sampler(config)
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)
    strategy = sampler._child_generation_strategy
    assert type(strategy._crossover).__name__ == {"uniform": "UniformCrossover", "sbx": "SBXCrossover"}[crossover]
    assert (strategy._mutation is None) == (mutation == "resample")
    # a real NSGA-II study over a few generations: children stay inside the bounds, the front improves on gen 0
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(
        lambda t: ((x := t.suggest_float("x", 0, 1)) ** 2 + (z := t.suggest_float("z", 0, 1)), (1 - x) ** 2 + z), 24
    )
    assert all(0 <= t.params["x"] <= 1 and 0 <= t.params["z"] <= 1 for t in study.trials)
    gen0 = min(sum(t.values) for t in study.trials[:4])
    assert min(sum(t.values) for t in study.trials[4:]) <= gen0


def _add(study: optuna.Study, config, acc: float, latency: float, memory: float) -> None:
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("measures", {"accuracy": acc, "latency_ms": latency, "memory_mb": memory})
    record_constraints(trial, config)
    study.tell(trial, [acc, latency, memory])


def test_infeasible_trials_never_enter_the_front_and_optuna_agrees() -> None:
    config = mo_config()
    study = optuna.create_study(directions=config.directions)
    study.set_user_attr("config", config.model_dump(mode="json"))  # as create_or_open stores it
    _add(study, config, 0.99, 5.0, 1.0)  # the most accurate, but breaks latency_ms <= 2
    _add(study, config, 0.90, 1.0, 2.0)
    _add(study, config, 0.80, 0.5, 2.0)
    _add(study, config, 0.85, 1.5, 3.0)  # dominated by trial 1
    _add(study, config, 0.40, 0.1, 0.1)  # breaks accuracy >= 0.5
    trials = study.trials
    assert [is_feasible(config, t) for t in trials] == [False, True, True, True, False]
    f = front(config, trials)
    assert [t.number for t in f] == [1, 2]
    assert sorted(t.number for t in study.best_trials) == [1, 2]  # Optuna's constrained front: the same
    assert pick(config, trials).number == 1  # best accuracy within the limits
    ref = reference_point(config, trials)
    assert ref[:2] == [0.5, 2.0]  # from the constraints (accuracy >= 0.5, latency_ms <= 2)
    assert ref[2] == pytest.approx(3.0 * 1.1)  # memory: unconstrained, 10% beyond the worst feasible (3.0)
    assert study_hypervolume(config, trials, ref) > 0
    assert [r["trial"] for r in leaderboard(study)] == [1, 3, 2]  # feasible trials by accuracy
    assert progress(study).best_trial == 1


def test_knee_pick_and_nothing_feasible_is_a_clear_error() -> None:
    config = mo_config(multi_objective={**MO, "pick": "knee", "constraints": []})
    study = optuna.create_study(directions=config.directions)
    for acc, lat in ((0.99, 1.9), (0.95, 0.3), (0.60, 0.1)):
        _add(study, config, acc, lat, 1.0)
    assert pick(config, study.trials).number == 1
    strict = mo_config(multi_objective={**MO, "constraints": ["latency_ms <= 0.01"]})
    with pytest.raises(RuntimeError, match="no completed trial satisfies the constraints"):
        pick(strict, study.trials)


def test_cnn_pareto_study_through_a_worker_slot(automl_home: Path) -> None:
    cfg = make_config(
        dataset={"source": "sklearn:digits", "target": "target", "image_shape": [8, 8]},
        features={"enabled": False, "select": False},
        metric="accuracy",
        model_space=["torch_cnn"],
        sampler="nsga2",
        pruning={"rule": "asha", "min_trials_at_rung": 2},
        multi_objective={**MO, "constraints": ["memory_mb <= 2"], "population_size": 4, "latency_batch_size": 64},
        budget={"n_trials": 5, "trials_per_slot": 5, "cv_folds": 2, "max_epochs": 3},
    )
    create_or_open(cfg, "cnn-mo")
    frame = read_dataset("sklearn:digits").sample(300, random_state=0)
    run_slot(cfg, "cnn-mo", 0, frame.drop(columns=["target"]), frame["target"])
    study = open_study(cfg, "cnn-mo")
    assert len(study.directions) == 3
    trials = study.trials
    assert len(trials) == 5 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    for t in trials:
        m = t.user_attrs["measures"]
        assert m["latency_ms"] > 0 and m["memory_mb"] > 0 and m["n_params"] > 0
        assert set(t.constraints) == {"memory_mb <= 2"}
        assert (t.constraints["memory_mb <= 2"] <= 0) == (m["memory_mb"] <= 2)
        assert any(k.startswith("automl:mo_step_") for k in t.system_attrs)  # vectors for MO-ASHA
        if t.state == TrialState.COMPLETE:
            assert list(t.values) == [m["accuracy"], m["latency_ms"], m["memory_mb"]]
    assert all(t.user_attrs["measures"]["memory_mb"] <= 2 for t in front(cfg, trials))
