"""Scoring with the study's metric, from a fitted model or from raw predictions.

Each metric's scorer (named in :mod:`automl.metrics.registry`) takes (y, predictions,
classes). The common cases are computed in numpy: scikit-learn's input validation costs
~0.5 ms a call, and a trial scores every report of every fold. A fast path returns None
for what it does not handle (non-finite input, one class present, probabilities that do
not sum to 1) and scikit-learn then scores it or raises its usual error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from automl.metrics.registry import get_metric


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC as the Mann-Whitney statistic with tied scores at their average rank (what sklearn's
    trapezoidal ROC area equals); None where it is undefined (one class only)."""
    n = len(score)
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == n:
        return None
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    edges = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])  # tie groups [edges[g], edges[g+1])
    ranks = np.empty(n)
    ranks[order] = np.repeat((edges[:-1] + 1 + edges[1:]) / 2.0, np.diff(edges))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * (n - n_pos)))


def _finite(y: np.ndarray, pred: np.ndarray) -> bool:
    return pred.dtype.kind in "fiu" and bool(np.isfinite(pred).all()) and len(y) == len(pred) and len(y) > 0


def _proba_ok(y: np.ndarray, pred: np.ndarray, classes: np.ndarray | None) -> bool:
    return _finite(y, pred) and classes is not None and pred.ndim == 2 and pred.shape[1] == len(classes)


def fast_errors(y: np.ndarray, pred: np.ndarray) -> np.ndarray | None:
    """Regression residuals in numpy, or None where scikit-learn must judge the input."""
    if not _finite(y, pred) or y.dtype.kind not in "fiub" or not np.isfinite(y).all():
        return None
    return y.astype(float) - pred.reshape(len(y)) if pred.ndim == 1 or pred.shape[1] == 1 else None


def fast_roc_auc(y: np.ndarray, pred: np.ndarray, classes: np.ndarray | None) -> float | None:
    if not _proba_ok(y, pred, classes):
        return None
    assert classes is not None
    if len(classes) == 2:
        return _binary_auc(y == classes[1], pred[:, 1])
    if not np.allclose(pred.sum(axis=1), 1.0):
        return None
    aucs = [_binary_auc(y == c, pred[:, i]) for i, c in enumerate(classes)]
    return None if any(a is None for a in aucs) else float(np.mean(aucs))  # type: ignore[arg-type]


def fast_accuracy(y: np.ndarray, pred: np.ndarray, classes: np.ndarray | None) -> float | None:
    if not _proba_ok(y, pred, classes):
        return None
    return float(np.mean(np.asarray(classes)[np.argmax(pred, axis=1)] == y))


def _labels(pred: np.ndarray, classes: Any) -> np.ndarray:
    return np.asarray(classes)[np.argmax(pred, axis=1)]


def roc_auc(y: np.ndarray, pred: np.ndarray, classes: Any) -> float:
    fast = fast_roc_auc(y, pred, classes)
    if fast is not None:
        return fast
    assert classes is not None
    if len(classes) == 2:
        return float(skm.roc_auc_score(y, pred[:, 1]))
    return float(skm.roc_auc_score(y, pred, multi_class="ovr", labels=classes))


def log_loss(y: np.ndarray, pred: np.ndarray, classes: Any) -> float:
    assert classes is not None
    return float(skm.log_loss(y, pred, labels=classes))


def accuracy(y: np.ndarray, pred: np.ndarray, classes: Any) -> float:
    fast = fast_accuracy(y, pred, classes)
    if fast is not None:
        return fast
    assert classes is not None
    return float(skm.accuracy_score(y, _labels(pred, classes)))


def f1_macro(y: np.ndarray, pred: np.ndarray, classes: Any) -> float:
    assert classes is not None
    return float(skm.f1_score(y, _labels(pred, classes), average="macro"))


def rmse(y: np.ndarray, pred: np.ndarray, classes: Any = None) -> float:
    err = fast_errors(y, pred)
    if err is not None:
        return float(np.sqrt(np.mean(err**2)))
    return float(np.sqrt(skm.mean_squared_error(y, pred)))


def mae(y: np.ndarray, pred: np.ndarray, classes: Any = None) -> float:
    err = fast_errors(y, pred)
    if err is not None:
        return float(np.mean(np.abs(err)))
    return float(skm.mean_absolute_error(y, pred))


def r2(y: np.ndarray, pred: np.ndarray, classes: Any = None) -> float:
    return float(skm.r2_score(y, pred))


def score_predictions(metric: str, y: Any, pred: np.ndarray, classes: np.ndarray | None = None) -> float:
    """Score predictions: class probabilities (n, k) for classification metrics, values for regression."""
    return get_metric(metric).scorer(np.asarray(y), np.asarray(pred), classes)


def score(metric: str, model: Any, X: Any, y: Any) -> float:
    """Score a fitted estimator on (X, y)."""
    if get_metric(metric).classification:
        return score_predictions(metric, y, model.predict_proba(X), model.classes_)
    return score_predictions(metric, y, model.predict(X))
