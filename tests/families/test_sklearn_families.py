"""Fold-wise families (random forest, logistic regression, ridge): one report per fold."""

from __future__ import annotations

import optuna
import pytest
from helpers import make_config

from automl.data import read_dataset
from automl.objective import evaluate_trial, fit_final
from automl.samplers import make_sampler


@pytest.mark.parametrize(
    ("family", "task", "metric", "source"),
    [
        ("random_forest", "regression", "mae", "sklearn:diabetes"),
        ("logistic_regression", "classification", "log_loss", "sklearn:breast_cancer"),
        ("ridge", "regression", "r2", "sklearn:diabetes"),
    ],
)
def test_one_report_per_fold_and_the_refit_scores(family: str, task: str, metric: str, source: str) -> None:
    cfg = make_config(
        model_space=[family],
        task=task,
        metric=metric,
        dataset={"source": source, "target": "target"},
        budget={"cv_folds": 3},
    )
    frame = read_dataset(source).sample(150, random_state=0)
    X, y = frame.drop(columns=["target"]), frame["target"]
    study = optuna.create_study(direction=cfg.metric_direction, sampler=make_sampler(cfg))
    study.optimize(lambda t: evaluate_trial(t, cfg, X, y), n_trials=2)
    for t in study.trials:
        assert sorted(t.intermediate_values) == [1, 2, 3]
        assert t.value == pytest.approx(sum(t.user_attrs["fold_scores"]) / 3)
    model = fit_final(cfg, study.best_trial, X, y)
    assert len(model.predict(X)) == 150
