"""The registered model: one MLflow pyfunc that takes the dataset's raw columns and returns predictions.

Inside it: the featuretools feature definitions learned at training time, the selected column
list, and the fitted scikit-learn pipeline (preprocessing + estimator). ``predict`` recomputes
the features from raw rows (strings, blanks, unseen categories) exactly as training did, keeps
the selected columns in training order and calls the estimator. Classification returns
``prediction`` (the original label values) and one ``probability_<label>`` column per class;
regression returns ``prediction``.

Relational studies: the input rows are rows of the target table; the other tables are read
from the paths in ``params`` (``table_<name>``), by default those of the training config.

This module runs where only the model's own requirements are installed (the model ships
``automl`` and ``feature_engineering`` as ``code_paths``): it imports pandas, numpy, joblib,
featuretools (through ``feature_engineering``) and MLflow's pyfunc API, nothing of the search.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from automl.frames import prepare_frame
from feature_engineering.dfs import calculate_features, load_feature_definitions

SPEC = "spec"  # artifact names inside the logged model
FEATURES = "features"
ESTIMATOR = "estimator"
PREDICTION = "prediction"
PROBABILITY = "probability_"


def probability_column(label: Any) -> str:
    return f"{PROBABILITY}{label}"


def _nullable(logical_types: dict[str, str], rows: pd.DataFrame) -> dict[str, str]:
    """Training's woodwork types, with blanks allowed where the new rows have them (an integer column
    without blanks at training time may have some now)."""
    relaxed = {"Integer": "IntegerNullable", "Boolean": "BooleanNullable"}
    return {c: relaxed.get(t, t) if rows[c].isna().any() else t for c, t in logical_types.items() if c in rows.columns}


class AutoMLModel(PythonModel):  # type: ignore[misc]
    """Raw rows in, predictions out (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        self.load(context.artifacts)

    def load(self, artifacts: dict[str, str]) -> AutoMLModel:
        """Load from artifact paths (MLflow's context, or the files before they are logged)."""
        self.spec: dict[str, Any] = json.loads(Path(artifacts[SPEC]).read_text())
        self.features, self.logical_types = load_feature_definitions(Path(artifacts[FEATURES]))
        self.estimator = joblib.load(artifacts[ESTIMATOR])
        return self

    # ------------------------------------------------------------------ features
    def feature_matrix(self, rows: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The estimator's input for raw rows: features recomputed, the selected columns in training order."""
        spec = self.spec
        rows = rows.drop(columns=[spec["target"]], errors="ignore").reset_index(drop=True)
        if spec.get("relational"):
            fm = self._relational(rows, params or {})
        else:
            rows = rows.reindex(columns=spec["columns"])  # a column the signature marks optional may be absent
            fm = calculate_features(self.features, rows, _nullable(self.logical_types, rows))
        return prepare_frame(fm[spec["selected"]])

    def _relational(self, rows: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        from feature_engineering.relational import (
            Relationship,
            Table,
            build_entityset,
            calculate_relational,
            read_table,
        )

        rel = self.spec["relational"]
        target_table = rel["target_table"]
        tables = {}
        for name, t in rel["tables"].items():
            frame = rows.copy() if name == target_table else read_table(Path(params.get(f"table_{name}") or t["path"]))
            if t.get("time_index") and t["time_index"] in frame.columns:
                frame[t["time_index"]] = pd.to_datetime(frame[t["time_index"]], errors="coerce")
            tables[name] = Table(name, frame, t["index"], t.get("time_index"), t.get("logical_types") or {})
        relationships = [Relationship(*r) for r in rel["relationships"]]
        es = build_entityset(tables, relationships)
        index = rel["tables"][target_table]["index"]
        cutoff = pd.to_datetime(rows[rel["cutoff_time"]]) if rel.get("cutoff_time") else None
        return calculate_relational(self.features, es, rows[index], cutoff)

    # ------------------------------------------------------------------ predictions
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        X = self.feature_matrix(pd.DataFrame(model_input), params)
        if self.spec["task"] == "classification":
            proba = np.asarray(self.estimator.predict_proba(X), dtype=float)
            classes = list(self.estimator.classes_)
            out = pd.DataFrame({PREDICTION: np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]})
            if all(isinstance(c, (int, np.integer)) for c in classes):
                out[PREDICTION] = out[PREDICTION].astype("int64")
            elif all(isinstance(c, (float, np.floating)) for c in classes):
                out[PREDICTION] = out[PREDICTION].astype("float64")
            for i, label in enumerate(classes):
                out[probability_column(label)] = proba[:, i]
            return out
        return pd.DataFrame({PREDICTION: np.asarray(self.estimator.predict(X), dtype=float)})

    def probabilities(self, rows: pd.DataFrame, params: dict[str, Any] | None = None) -> tuple[np.ndarray, list[Any]]:
        """Class probabilities (n, k) and the classes, in the estimator's order (the scorers' input)."""
        out = self.predict(None, rows, params)
        classes = list(self.estimator.classes_)
        return out[[probability_column(c) for c in classes]].to_numpy(), classes
