"""The metrics a study may optimize, by name: one record per metric.

Imported at DAG-parse time (``automl.config`` validates the metric, its task and its
direction against it), so this module stays light: a record names its scorer by import
path, and :meth:`Metric.scorer` imports it on first use (the scorers need numpy and
scikit-learn).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

Scorer = Callable[[Any, Any, Any], float]  # (y, predictions, classes) -> score


@dataclass(frozen=True)
class Metric:
    """A metric: the tasks it applies to, the direction in which it is better, what it scores.

    Classification metrics score class probabilities (n, k) with the classes in column order
    (``proba``: from the probabilities themselves; otherwise from the predicted labels, their
    argmax); regression metrics score predicted values.
    """

    name: str
    tasks: tuple[str, ...]
    direction: Literal["maximize", "minimize"]
    proba: bool  # scores probabilities (not only the predicted classes)
    scorer_path: str  # "module:function" with the Scorer signature

    @property
    def classification(self) -> bool:
        """Scores class probabilities (``predict_proba``) rather than predicted values."""
        return "classification" in self.tasks

    @property
    def scorer(self) -> Scorer:
        return _load(self.scorer_path)


_S = "automl.metrics.scoring"
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", ("classification",), "maximize", True, f"{_S}:roc_auc"),
        Metric("accuracy", ("classification",), "maximize", False, f"{_S}:accuracy"),
        Metric("f1_macro", ("classification",), "maximize", False, f"{_S}:f1_macro"),
        Metric("log_loss", ("classification",), "minimize", True, f"{_S}:log_loss"),
        Metric("rmse", ("regression",), "minimize", False, f"{_S}:rmse"),
        Metric("mae", ("regression",), "minimize", False, f"{_S}:mae"),
        Metric("r2", ("regression",), "maximize", False, f"{_S}:r2"),
    )
}


def metric_names() -> list[str]:
    return sorted(METRICS)


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {metric_names()}")
    return METRICS[name]


@cache
def _load(path: str) -> Scorer:
    module, attr = path.split(":")
    fn: Scorer = getattr(importlib.import_module(module), attr)
    return fn
