"""Scoring with the study's metric, from a fitted model or from raw predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

PROBA_METRICS = ("roc_auc", "log_loss")
CLASS_METRICS = ("roc_auc", "log_loss", "accuracy", "f1_macro")


def score_predictions(metric: str, y: Any, pred: np.ndarray, classes: np.ndarray | None = None) -> float:
    """Score predictions: class probabilities (n, k) for classification metrics, values for regression."""
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
