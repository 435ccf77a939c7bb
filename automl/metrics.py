"""Scoring with the study's metric, from a fitted model or from raw predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

PROBA_METRICS = ("roc_auc", "log_loss")
CLASS_METRICS = ("roc_auc", "log_loss", "accuracy", "f1_macro")


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


def _fast_score(metric: str, y: np.ndarray, pred: np.ndarray, classes: np.ndarray | None) -> float | None:
    """The common metrics in numpy: sklearn's input validation costs ~0.5 ms a call, and a trial scores
    every report of every fold. None hands the case to sklearn (non-finite input, one class present,
    probabilities that do not sum to 1), which then scores it or raises its usual error."""
    if pred.dtype.kind not in "fiu" or not np.isfinite(pred).all() or len(y) != len(pred) or len(y) == 0:
        return None
    if metric in ("rmse", "mae"):
        if y.dtype.kind not in "fiub" or not np.isfinite(y).all():
            return None
        err = y.astype(float) - pred.reshape(len(y)) if pred.ndim == 1 or pred.shape[1] == 1 else None
        if err is None:
            return None
        return float(np.sqrt(np.mean(err**2))) if metric == "rmse" else float(np.mean(np.abs(err)))
    if classes is None or pred.ndim != 2 or pred.shape[1] != len(classes):
        return None
    if metric == "accuracy":
        return float(np.mean(np.asarray(classes)[np.argmax(pred, axis=1)] == y))
    if metric == "roc_auc":
        if len(classes) == 2:
            return _binary_auc(y == classes[1], pred[:, 1])
        if not np.allclose(pred.sum(axis=1), 1.0):
            return None
        aucs = [_binary_auc(y == c, pred[:, i]) for i, c in enumerate(classes)]
        return None if any(a is None for a in aucs) else float(np.mean(aucs))  # type: ignore[arg-type]
    return None


def score_predictions(metric: str, y: Any, pred: np.ndarray, classes: np.ndarray | None = None) -> float:
    """Score predictions: class probabilities (n, k) for classification metrics, values for regression."""
    fast = _fast_score(metric, np.asarray(y), np.asarray(pred), classes)
    if fast is not None:
        return fast
    if metric in CLASS_METRICS:
        assert classes is not None
        proba = np.asarray(pred)
        if metric == "log_loss":
            return float(skm.log_loss(y, proba, labels=classes))
        if metric == "roc_auc":
            if len(classes) == 2:
                return float(skm.roc_auc_score(y, proba[:, 1]))
            return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        labels = np.asarray(classes)[np.argmax(proba, axis=1)]
        if metric == "accuracy":
            return float(skm.accuracy_score(y, labels))
        return float(skm.f1_score(y, labels, average="macro"))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, pred)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, pred))
    if metric == "r2":
        return float(skm.r2_score(y, pred))
    raise ValueError(f"unknown metric {metric!r}")


def score(metric: str, model: Any, X: Any, y: Any) -> float:
    """Score a fitted estimator on (X, y)."""
    if metric in CLASS_METRICS:
        return score_predictions(metric, y, model.predict_proba(X), model.classes_)
    return score_predictions(metric, y, model.predict(X))
