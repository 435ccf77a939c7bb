"""Metrics: one registry (:mod:`automl.metrics.registry`) and the scorers (:mod:`automl.metrics.scoring`).

This package's ``__init__`` re-exports only the registry: ``automl.config`` imports it at
DAG-parse time, and the scorers import numpy and scikit-learn. Import ``score`` and
``score_predictions`` from ``automl.metrics.scoring``.
"""

from automl.metrics.registry import METRICS, Metric, get_metric, metric_names

__all__ = ["METRICS", "Metric", "get_metric", "metric_names"]
