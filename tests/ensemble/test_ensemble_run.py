"""End to end: a tiny study with ``ensemble.size: 5`` over two families registers one ensemble model."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
from model.fixtures import study_config, user_frame
from sklearn.ensemble import VotingClassifier

from automl import tracking
from automl.pipeline import run_local
from automl.pipeline.model import load_retrained


def test_ensemble_study_registers_one_model_that_predicts_raw_rows(automl_home: Path) -> None:
    csv = automl_home.parent / "customers.csv"
    frame = user_frame(300, seed=2)
    signal = frame["a"].fillna(0) + frame["b"] + 0.5 * frame["visits"] / 10 + np.random.RandomState(7).normal(size=300)
    frame["label"] = np.where(signal > signal.median(), "yes", "no")  # linear and noisy: the families differ
    frame.to_csv(csv, index=False)
    config = study_config(
        "ens_tiny",
        csv,
        model_space=["lightgbm", "logistic_regression"],
        budget={"n_trials": 8, "parallelism": 1, "trials_per_slot": 8, "cv_folds": 3, "max_rounds": 60},
        ensemble={"size": 5, "max_candidates": 4},
        seed=0,
    )
    result = run_local(config, run_id="ens", poke_s=0.5)
    assert result.registered is not None
    out = result.ctx.out
    assert 2 <= len(list((out / "oof").glob("*.npy"))) <= 4  # bounded: the best max_candidates trials only
    retrained = result.outputs["retrain_best"]
    model = load_retrained(retrained)
    assert isinstance(model, VotingClassifier) and len(model.estimators_) >= 2
    assert np.isclose(sum(model.weights), 1.0)
    parent = tracking.client(config).get_run(result.registered.parent_run_id)
    members = parent.data.params["ensemble.members"]
    assert len(members.split(",")) == len(model.estimators_)
    assert parent.data.metrics["ensemble_oof_roc_auc"] >= parent.data.metrics["best_single_oof_roc_auc"]
    holdout = result.outputs["evaluate_holdout"]
    assert parent.data.metrics["holdout_roc_auc"] == holdout.holdout_score and 0.5 < holdout.holdout_score <= 1
    raw = user_frame(20, seed=9).drop(columns=["label"])
    with tracking.global_uri(config):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{config.registered_model_name}/{result.registered.version}")
    predictions = pyfunc.predict(raw)
    assert len(predictions) == 20 and set(predictions["prediction"]) <= {"yes", "no"}
    proba = predictions[["probability_no", "probability_yes"]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0)
