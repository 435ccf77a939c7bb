"""Meta-learning: meta-features, the MLflow knowledge base, warm start."""

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import make_config
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from automl import tracking
from automl.data import read_dataset
from automl.meta import distance, fit_to_space, meta_features, record_study, search_space, warm_start
from automl.meta.knowledge import find_neighbours, kb_tags
from automl.study import create_or_open, open_study
from automl.worker import run_slot


def test_meta_features_of_a_tiny_hand_made_dataset() -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
            "b": [1.0, np.nan, 1.0, 1.0, np.nan, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            "c": list("xyxyxyxyxyxy"),
            "y": [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        }
    )
    m = meta_features(frame, "y", "classification")
    assert m["log_rows"] == pytest.approx(np.log10(12), abs=1e-6)
    assert m["log_columns"] == pytest.approx(np.log10(3), abs=1e-6)
    assert m["numeric_ratio"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["missing_ratio"] == pytest.approx((2 / 12) / 3, abs=1e-6)
    assert m["classes"] == 2 and m["minority_ratio"] == pytest.approx(3 / 12 * 2)
    assert m["mean_abs_corr"] == pytest.approx(
        abs(np.corrcoef(frame["a"], frame["y"])[0, 1]), abs=1e-6
    )  # b is constant
    assert 0.0 <= m["landmark_stump"] <= 1.0
    reg = meta_features(frame.assign(y=np.arange(12.0) ** 2), "y", "regression")
    assert reg["classes"] == 1 and reg["target_skew"] > 0


def test_distance_is_small_for_a_resample_and_larger_for_another_dataset() -> None:
    bc = read_dataset("sklearn:breast_cancer")
    a = meta_features(bc, "target", "classification")
    b = meta_features(bc.sample(frac=0.8, random_state=1), "target", "classification")
    w = meta_features(read_dataset("sklearn:wine"), "target", "classification")
    assert distance(a, b) < 0.5 * distance(a, w)


def test_out_of_space_configurations_are_clipped_or_skipped() -> None:
    dists = {
        "model": CategoricalDistribution(["lightgbm", "ridge"]),
        "lr": FloatDistribution(0.01, 0.3, log=True),
        "leaves": IntDistribution(4, 128, log=True),
        "n": IntDistribution(50, 300, step=50),
    }
    assert fit_to_space({"model": "lightgbm", "lr": 0.9, "leaves": 1000, "n": 120, "gone": 3}, dists) == {
        "model": "lightgbm",
        "lr": 0.3,
        "leaves": 128,
        "n": 100,
    }
    assert fit_to_space({"model": "xgboost", "lr": 0.1}, dists) is None  # unknown family: skipped
    assert fit_to_space({"lr": "fast"}, dists) is None  # a value of the wrong type: skipped
    assert fit_to_space({"lr": 0.1}, dists) is None  # no model family given in a multi-family space


def test_search_space_covers_every_family() -> None:
    dists = search_space(make_config(model_space=["lightgbm", "logistic_regression"]))
    assert {"model", "lightgbm__learning_rate", "logistic_regression__C"} <= set(dists)


def _finished_study(cfg, name: str, frame: pd.DataFrame) -> str:  # type: ignore[no-untyped-def]
    parent = tracking.start_parent_run(cfg, name, {}, {}, {})
    meta = meta_features(frame, "target", cfg.task)
    tracking.client(cfg).set_tags(parent, kb_tags(cfg, meta)) if hasattr(tracking.client(cfg), "set_tags") else [
        tracking.client(cfg).set_tag(parent, k, v) for k, v in kb_tags(cfg, meta).items()
    ]
    create_or_open(cfg, name)
    run_slot(cfg, name, 0, frame.drop(columns=["target"]), frame["target"])
    record_study(cfg, parent, open_study(cfg, name))
    return parent


def test_warm_start_uses_only_same_task_and_model_space(automl_home: Path) -> None:
    bc = read_dataset("sklearn:breast_cancer").sample(200, random_state=0)
    cfg = make_config(budget={"n_trials": 3, "trials_per_slot": 3})
    past = _finished_study(cfg, "past", bc)
    other_space = make_config(model_space=["random_forest"], budget={"n_trials": 2, "trials_per_slot": 2})
    _finished_study(other_space, "other-space", bc)
    meta = meta_features(bc, "target", "classification")
    assert [n.run_id for n in find_neighbours(cfg, meta)] == [past]
    assert [n.run_id for n in find_neighbours(other_space, meta)] != [past]
    regression = make_config(task="regression", metric="rmse", model_space=["ridge"])
    assert find_neighbours(regression, meta) == []

    new = create_or_open(cfg, "new")
    seeded = warm_start(cfg, new, meta)
    assert len(seeded) == 2  # n_trials - 1: the sampler keeps at least one trial
    assert {s["run_id"] for s in seeded} == {past}
    top = json.loads(Path(tracking.client(cfg).download_artifacts(past, "meta/top_configs.json")).read_text())
    waiting = new.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [c["params"] for c in top["configs"][:2]]
    assert warm_start(cfg, new, meta) == seeded  # a retried create_study does not enqueue twice
    assert len(new.get_trials(deepcopy=False)) == 2


def test_no_similar_study_starts_cold(automl_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_config()
    study = create_or_open(cfg, "lonely")
    with caplog.at_level("INFO", logger="automl.meta"):
        assert warm_start(cfg, study, meta_features(read_dataset("sklearn:wine"), "target", "classification")) == []
    assert "starting cold" in caplog.text
