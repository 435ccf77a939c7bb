"""scikit-learn's histogram gradient boosting as a family: config, trials, refit, costs."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from helpers import make_config

from automl.data import read_dataset
from automl.families.space import get_family
from automl.metrics.scoring import score
from automl.objective import evaluate_trial, fit_final
from automl.samplers import make_sampler


def test_config_accepts_the_family_for_both_tasks() -> None:
    assert make_config(model_space=["hist_gradient_boosting"]).model_space == ["hist_gradient_boosting"]
    reg = make_config(
        model_space=["hist_gradient_boosting", "ridge"],
        task="regression",
        metric="rmse",
        dataset={"source": "sklearn:diabetes", "target": "target"},
    )
    assert reg.task == "regression"


@pytest.mark.parametrize(
    ("source", "task", "metric", "floor"),
    [("sklearn:breast_cancer", "classification", "roc_auc", 0.9), ("sklearn:diabetes", "regression", "r2", 0.2)],
)
def test_a_tiny_study_runs_trials_and_the_refit_scores(source: str, task: str, metric: str, floor: float) -> None:
    cfg = make_config(
        model_space=["hist_gradient_boosting"],
        task=task,
        metric=metric,
        dataset={"source": source, "target": "target"},
        budget={"cv_folds": 3},
    )
    frame = read_dataset(source).sample(300, random_state=0)
    X, y = frame.drop(columns=["target"]), frame["target"]
    study = optuna.create_study(direction=cfg.metric_direction, sampler=make_sampler(cfg))
    study.optimize(lambda t: evaluate_trial(t, cfg, X, y), n_trials=3)
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert sorted(t.intermediate_values) == [1, 2, 3]  # one report per fold
        assert {"learning_rate", "max_iter", "max_leaf_nodes", "l2_regularization"} <= set(t.params)
    assert study.best_value > floor
    model = fit_final(cfg, study.best_trial, X.iloc[:200], y.iloc[:200])
    est = model.named_steps["model"]
    assert est.max_iter == study.best_trial.params["max_iter"] and est.n_iter_ >= 1
    assert score(metric, model, X.iloc[200:], y.iloc[200:]) > floor


def test_categorical_columns_are_ordinal_encoded_and_costs_count_tree_nodes() -> None:
    rng = np.random.default_rng(0)
    X = read_dataset("sklearn:breast_cancer").drop(columns=["target"]).iloc[:200, :4]
    X = X.assign(colour=rng.choice(["red", "green", None], 200))
    y = (X.iloc[:, 0] > X.iloc[:, 0].median()).astype(int)
    family = get_family("hist_gradient_boosting")
    model = family.pipeline({"max_iter": 20}, "classification", 0).fit(X, y)
    assert model.named_steps["pre"].transform(X).shape == (200, 5)  # no one-hot columns
    costs = family.costs(model, X.iloc[:32], repeats=3)
    assert costs["n_params"] >= 20 and costs["latency_ms"] > 0 and costs["memory_mb"] > 0
