"""The cost-aware family choice (FLAML's ECI rule) and its sampler wrapper."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest
from helpers import make_config

from automl.family_choice import CostAwareFamilySampler, Event, choose_family, estimated_costs, events_of
from automl.samplers import make_sampler


def test_eci_is_the_time_of_the_last_improvement_or_since_it_and_the_gap_at_the_familys_speed() -> None:
    events = [Event("a", 1.0, 0.5), Event("a", 1.0, 0.4), Event("b", 10.0, 0.45)]
    eci = estimated_costs(events, ["a", "b"])
    # a holds the best: max(t1 - t0, T - t1) = max(2 - 1, 2 - 2)
    assert eci["a"] == pytest.approx(1.0)
    # b: max(10, 0) or 2 * gap / speed = 2 * 0.05 / ((0.5 - 0.45) / 10) = 20 (its first result counts from the worst)
    assert eci["b"] == pytest.approx(20.0)


def test_time_since_the_last_improvement_raises_the_estimate() -> None:
    events = [Event("a", 1.0, 0.4)] + [Event("a", 2.0, 0.6) for _ in range(4)]
    assert estimated_costs(events, ["a"])["a"] == pytest.approx(8.0)


def test_pruned_and_failed_trials_count_their_time_not_their_values() -> None:
    events = [Event("a", 1.0, 0.4), Event("b", 3.0), Event("b", 4.0)]
    eci = estimated_costs(events, ["a", "b"])
    assert eci["b"] == pytest.approx(7.0)  # no result yet: all the time spent on it
    assert eci["a"] == pytest.approx(1.0)


def test_a_running_trial_adds_its_time_so_far() -> None:
    events = [Event("a", 1.0, 0.4), Event("a", 5.0, running=True)]
    assert estimated_costs(events, ["a"])["a"] == pytest.approx(5.0)


def test_untried_families_come_first_in_order_and_a_running_one_waits() -> None:
    rng = np.random.RandomState(0)
    assert choose_family([], ["a", "b", "c"], rng) == "a"
    assert choose_family([Event("a", 1.0, running=True)], ["a", "b", "c"], rng) == "b"
    assert choose_family([Event("a", 1.0, 0.3), Event("b", 0.5, running=True)], ["a", "b", "c"], rng) == "c"


def test_the_draw_follows_the_inverse_estimates() -> None:
    events = [Event("a", 1.0, 0.5), Event("a", 1.0, 0.4), Event("b", 10.0, 0.45)]
    rng = np.random.RandomState(0)
    draws = [choose_family(events, ["a", "b"], rng) for _ in range(4000)]
    share_b = draws.count("b") / len(draws)
    assert share_b == pytest.approx((1 / 20) / (1 + 1 / 20), abs=0.015)


def test_events_keep_the_order_trials_ended_in_and_make_maximized_values_losses() -> None:
    study = optuna.create_study(direction="maximize")
    first, second = study.ask(), study.ask()
    first.suggest_categorical("model", ["a", "b"])
    second.suggest_categorical("model", ["a", "b"])
    study.tell(second, 0.9)
    study.tell(first, 0.7)
    study.ask()  # running, no family yet: left out
    evs = events_of(study.get_trials(deepcopy=False), minimize=False)
    assert [e.loss for e in evs] == [-0.9, -0.7]


def test_the_sampler_spends_trials_on_the_family_that_improves_for_less_time() -> None:
    """Two families with the same scores, one 0.1 s slower per trial: the slow one gets few trials (a choice
    blind to cost would give it about half; seeds 0-4 gave it 1-7 of 40); the fast one's parameter still
    comes from TPE."""
    base = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, constant_liar=True, n_startup_trials=5)
    study = optuna.create_study(sampler=CostAwareFamilySampler(base, seed=0))

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("model", ["fast", "slow"])
        x = trial.suggest_float(f"{family}__x", -3.0, 3.0)
        if family == "slow":
            time.sleep(0.1)
        return x * x

    study.optimize(objective, n_trials=40)
    families = [t.params["model"] for t in study.trials]
    assert families[:2] == ["fast", "slow"]  # each tried once first
    assert families.count("slow") <= 12, families
    assert study.best_value < 0.05  # the fast family's parameter was still searched


def test_the_platform_wraps_its_sampler_only_when_asked_and_with_several_families() -> None:
    two = ["logistic_regression", "random_forest"]
    assert isinstance(make_sampler(make_config(family_choice="cost", model_space=two)), CostAwareFamilySampler)
    assert not isinstance(make_sampler(make_config(model_space=two)), CostAwareFamilySampler)
    assert not isinstance(make_sampler(make_config(family_choice="cost")), CostAwareFamilySampler)  # one family
