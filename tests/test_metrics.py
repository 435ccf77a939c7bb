"""score_predictions' numpy fast path against scikit-learn's metrics, including ties and the cases it hands back."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_config
from sklearn import metrics as skm

from automl.config import ConfigError
from automl.metrics import METRICS, get_metric
from automl.metrics.scoring import fast_accuracy, fast_errors, fast_roc_auc, score_predictions


def _proba(rng: np.random.Generator, n: int, k: int, ties: bool) -> np.ndarray:
    raw = rng.random((n, k))
    if ties:  # few distinct scores: many tied ranks, as early boosting rounds give
        raw = np.round(raw * 4) + 0.01
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_classification_metrics_match_sklearn(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    for k in (2, 3, 5):
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)  # every class present
        proba = _proba(rng, n, k, ties)
        classes = np.arange(k)
        want_auc = (
            skm.roc_auc_score(y, proba[:, 1])
            if k == 2
            else skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        )
        assert fast_roc_auc(y, proba, classes) == pytest.approx(want_auc, abs=1e-12)
        labels = classes[np.argmax(proba, axis=1)]
        assert fast_accuracy(y, proba, classes) == pytest.approx(skm.accuracy_score(y, labels), abs=1e-15)


def test_string_labels_and_regression_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    classes = np.array(["no", "yes"])
    y = rng.choice(classes, 120)
    proba = _proba(rng, 120, 2, ties=True)
    assert score_predictions("roc_auc", y, proba, classes) == pytest.approx(
        skm.roc_auc_score(y == "yes", proba[:, 1]), abs=1e-12
    )
    target, pred = rng.normal(size=200) * 50, rng.normal(size=200) * 50
    assert score_predictions("rmse", target, pred) == pytest.approx(
        np.sqrt(skm.mean_squared_error(target, pred)), rel=1e-12
    )
    assert score_predictions("mae", target, pred) == pytest.approx(skm.mean_absolute_error(target, pred), rel=1e-12)


def test_undefined_or_invalid_cases_go_to_sklearn() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    classes = np.arange(2)
    # one class present: sklearn's own answer (NaN with its warning), not a made-up number
    assert fast_roc_auc(np.array([1, 1, 1]), proba, classes) is None
    with pytest.warns(UserWarning, match="Only one class"):
        assert np.isnan(score_predictions("roc_auc", np.array([1, 1, 1]), proba, classes))
    # non-finite predictions and multiclass rows that are not probabilities are sklearn's to judge
    assert fast_errors(np.array([1.0, 2.0]), np.array([np.nan, 1.0])) is None
    bad = np.array([[0.5, 0.5, 0.5], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8]])
    assert fast_roc_auc(np.array([0, 1, 2]), bad, np.arange(3)) is None
    # metrics without a fast path still score
    assert score_predictions("log_loss", np.array([1, 0, 1]), proba, classes) == pytest.approx(
        skm.log_loss([1, 0, 1], proba, labels=classes)
    )


def test_one_registry_scores_every_metric_the_right_way_up() -> None:
    rng = np.random.default_rng(3)
    y_cls = rng.integers(0, 2, 60)
    perfect = np.column_stack([1.0 - y_cls, y_cls]).astype(float) * 0.98 + 0.01
    noisy = _proba(rng, 60, 2, ties=False)
    y_reg = rng.normal(size=60)
    for m in METRICS.values():
        assert get_metric(m.name) is m and m.scorer is m.scorer  # resolved once
        if m.classification:
            good = score_predictions(m.name, y_cls, perfect, np.arange(2))
            bad = score_predictions(m.name, y_cls, noisy, np.arange(2))
        else:
            good = score_predictions(m.name, y_reg, y_reg + 0.01)
            bad = score_predictions(m.name, y_reg, rng.normal(size=60))
        assert (good > bad) == (m.direction == "maximize"), m.name


def test_config_validates_against_the_registry() -> None:
    with pytest.raises(ConfigError) as err:
        make_config(metric="auc_pr_9")
    assert all(name in str(err.value) for name in METRICS)
    for m in METRICS.values():
        task = m.tasks[0]
        cfg = make_config(
            metric=m.name,
            task=task,
            model_space=["logistic_regression" if task == "classification" else "ridge"],
            dataset={"source": "sklearn:breast_cancer", "target": "target"},
        )
        assert cfg.metric_direction == m.direction
    with pytest.raises(ValueError, match="unknown metric"):
        score_predictions("auc_pr_9", [1], np.array([1.0]))
