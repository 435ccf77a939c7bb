"""Scoring a fitted model with the study's metric."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def score(metric: str, model: Any, X: Any, y: Any) -> float:
    """Score ``model`` on (X, y); the direction comes from ``automl.config.METRICS``."""
    if metric in ("roc_auc", "log_loss"):
        proba = model.predict_proba(X)
        classes = model.classes_
        if metric == "log_loss":
            return float(skm.log_loss(y, proba, labels=classes))
        if len(classes) == 2:
            return float(skm.roc_auc_score(y, proba[:, 1]))
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    pred = model.predict(X)
    if metric == "accuracy":
        return float(skm.accuracy_score(y, pred))
    if metric == "f1_macro":
        return float(skm.f1_score(y, pred, average="macro"))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, pred)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, pred))
    if metric == "r2":
        return float(skm.r2_score(y, pred))
    raise ValueError(f"unknown metric {metric!r}")
