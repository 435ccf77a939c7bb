"""Feature selection fitted on training data only.

Uses featuretools' own selection utilities (null, single-value, low
information, highly correlated); the fitted selector records why each dropped
feature was dropped.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from featuretools import selection as fts


class FeatureSelector:
    """Drop null, constant, low-information and highly correlated features.

    ``fit(X, features)`` takes the *training* feature matrix and its feature
    definitions; it sets ``selected_features_`` (definitions kept),
    ``selected_columns_`` and ``dropped_`` (column -> reason).
    """

    def __init__(self, null_threshold: float = 0.95, corr_threshold: float = 0.95) -> None:
        self.null_threshold = null_threshold
        self.corr_threshold = corr_threshold

    def fit(self, X: pd.DataFrame, features: list[Any]) -> FeatureSelector:
        if X.shape[0] == 0:
            raise ValueError("cannot fit feature selection on an empty training matrix")
        dropped: dict[str, str] = {}
        fm, feats = X, list(features)
        steps = [
            (
                f"more than {self.null_threshold:.0%} missing",
                lambda m, f: fts.remove_highly_null_features(m, f, pct_null_threshold=self.null_threshold),
            ),
            ("single value", lambda m, f: fts.remove_single_value_features(m, f, count_nan_as_value=True)),
            ("low information", lambda m, f: fts.remove_low_information_features(m, f)),
            (
                f"correlation above {self.corr_threshold}",
                lambda m, f: fts.remove_highly_correlated_features(m, f, pct_corr_threshold=self.corr_threshold),
            ),
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for reason, step in steps:
                before = list(fm.columns)
                fm, feats = step(fm, feats)
                for col in before:
                    if col not in fm.columns:
                        dropped[str(col)] = reason
        if not feats:
            raise ValueError("feature selection dropped every feature; loosen the thresholds")
        self.selected_features_ = feats
        self.selected_columns_ = [str(c) for c in fm.columns]
        self.dropped_ = dropped
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.selected_columns_]
