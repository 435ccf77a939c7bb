"""LightGBM: chunked-rounds CV reports per chunk, and the refit uses the round count CV chose."""

from __future__ import annotations

import optuna
from helpers import make_config

from automl.data import read_dataset
from automl.families.lightgbm import LightGBMFamily
from automl.objective import evaluate_trial, fit_final
from automl.samplers import make_sampler


def test_reports_every_chunk_and_refits_with_the_best_round_count() -> None:
    cfg = make_config(
        model_space=["lightgbm"],
        budget={"max_rounds": 60, "report_every": 20, "early_stopping_rounds": 200, "cv_folds": 2},
    )
    frame = read_dataset("sklearn:breast_cancer").sample(200, random_state=0)
    X, y = frame.drop(columns=["target"]), frame["target"]
    study = optuna.create_study(direction="maximize", sampler=make_sampler(cfg))
    study.optimize(lambda t: evaluate_trial(t, cfg, X, y), n_trials=2)
    for t in study.trials:
        assert sorted(t.intermediate_values) == [20, 40, 60]
        assert t.user_attrs["train_steps"] == 60 * 2
        assert t.value == max(t.intermediate_values.values())
        assert t.user_attrs["best_rounds"] in (20, 40, 60)
    best = study.best_trial
    model = fit_final(cfg, best, X, y)
    assert model.named_steps["model"].n_estimators == best.user_attrs["best_rounds"]
    assert model.predict_proba(X).shape == (200, 2)


def test_native_params_name_the_objective() -> None:
    fam = LightGBMFamily()
    assert fam.native_params({"n_estimators": 5}, "regression", 0, 1)["objective"] == "regression"
    assert fam.native_params({}, "classification", 2, 1)["objective"] == "binary"
    multi = fam.native_params({}, "classification", 3, 1)
    assert multi["objective"] == "multiclass" and multi["num_class"] == 3 and "n_estimators" not in multi
