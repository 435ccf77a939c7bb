"""Deep Feature Synthesis over a single table (relational EntitySets come later).

The feature *definitions* are learned from the training table only and saved
with ``featuretools.save_features``; the holdout, retraining and serving
recompute exactly the same features from those definitions.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

with warnings.catch_warnings():  # woodwork/featuretools import pkg_resources
    warnings.simplefilter("ignore")
    import featuretools as ft

ROW_ID = "_row_id"
TABLE = "data"


class FeatureError(ValueError):
    """Feature generation cannot proceed; the message says why."""


def _entityset(frame: pd.DataFrame, logical_types: dict[str, str] | None = None) -> ft.EntitySet:
    es = ft.EntitySet(id="automl")
    es.add_dataframe(
        dataframe_name=TABLE,
        dataframe=frame.reset_index(drop=True).copy(),
        index=ROW_ID,
        make_index=True,
        logical_types=logical_types or None,
    )
    return es


class DeepFeatureSynthesis:
    """Learn feature definitions with DFS on training data (scikit-learn style).

    Parameters are stored as given; ``fit`` sets ``features_`` (the
    featuretools feature definitions) and ``logical_types_`` (woodwork types of
    the input columns, reused when new data is transformed).
    """

    def __init__(
        self,
        trans_primitives: list[str] | None = None,
        max_depth: int = 1,
        max_features: int = -1,
    ) -> None:
        self.trans_primitives = trans_primitives
        self.max_depth = max_depth
        self.max_features = max_features

    def fit(self, frame: pd.DataFrame) -> DeepFeatureSynthesis:
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise FeatureError("cannot run DFS on an empty table")
        es = _entityset(frame)
        self.logical_types_ = {col: str(lt) for col, lt in es[TABLE].ww.logical_types.items() if col != ROW_ID}
        try:
            self.features_ = ft.dfs(
                entityset=es,
                target_dataframe_name=TABLE,
                trans_primitives=list(self.trans_primitives or []),
                agg_primitives=[],
                max_depth=self.max_depth,
                max_features=self.max_features,
                features_only=True,
            )
        except (ValueError, KeyError, NotImplementedError) as err:
            raise FeatureError(f"DFS failed: {err}") from None
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return calculate_features(self.features_, frame, self.logical_types_)

    def save(self, path: Path) -> Path:
        save_feature_definitions(self.features_, path, self.logical_types_)
        return path


def calculate_features(
    features: list[Any], frame: pd.DataFrame, logical_types: dict[str, str] | None = None
) -> pd.DataFrame:
    """Compute a feature matrix for ``frame`` from saved feature definitions."""
    es = _entityset(frame, logical_types)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fm = ft.calculate_feature_matrix(features=features, entityset=es)
    return plain_dtypes(fm.reset_index(drop=True))


def plain_dtypes(fm: pd.DataFrame) -> pd.DataFrame:
    """String column names; woodwork's nullable Int64/boolean as float64, categories as objects."""
    fm.columns = [str(c) for c in fm.columns]
    for col in fm.columns:
        if pd.api.types.is_bool_dtype(fm[col]) or pd.api.types.is_integer_dtype(fm[col]):
            fm[col] = fm[col].astype("float64")
        elif isinstance(fm[col].dtype, pd.CategoricalDtype):
            fm[col] = fm[col].astype(object)
    return fm


def save_feature_definitions(features: list[Any], path: Path, logical_types: dict[str, str]) -> None:
    """Write the definitions and input logical types as one JSON document."""
    import json

    doc = {"features": json.loads(ft.save_features(features)), "logical_types": logical_types}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def load_feature_definitions(path: Path) -> tuple[list[Any], dict[str, str]]:
    import json

    doc = json.loads(Path(path).read_text())
    return ft.load_features(json.dumps(doc["features"])), doc["logical_types"]
