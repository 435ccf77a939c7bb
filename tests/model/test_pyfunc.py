"""Acceptance 1: the registered model takes raw rows and scores as the holdout evaluation did."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.types.schema import DataType

from automl import tracking
from automl.model.champion import score_frame


def test_pyfunc_scores_raw_rows_like_the_holdout_evaluation(trained_study) -> None:
    ts = trained_study
    config, result = ts.config, ts.result
    selected = result.outputs["select_features"]
    kept = json.loads(Path(selected.report).read_text())["kept"]
    generated = [c for c in kept if c not in ("a", "b", "colour", "visits")]
    assert generated, f"the study kept no DFS column ({kept}): the test would not exercise the feature step"

    holdout = ts.raw_holdout
    assert holdout["colour"].isna().any() and holdout["a"].isna().any()  # blanks reach the model
    raw_rows = holdout.drop(columns=["label"])
    with tracking.global_uri(config):
        model = mlflow.pyfunc.load_model(f"models:/{ts.name}@champion")
        out = model.predict(raw_rows)
    assert list(out.columns) == ["prediction", "probability_no", "probability_yes"]
    assert len(out) == len(raw_rows)
    assert set(out["prediction"]) <= {"yes", "no"}
    np.testing.assert_allclose(out[["probability_no", "probability_yes"]].sum(axis=1), 1.0)
    # the same score as evaluate_holdout computed from the training-time feature matrix
    assert score_frame("roc_auc", holdout["label"], out) == pytest.approx(result.holdout.holdout_score, abs=1e-12)

    # an unseen category and a blank everywhere are scored, not rejected
    odd = raw_rows.head(3).copy()
    odd.loc[0, "colour"] = "purple"
    odd.loc[1, ["a", "b"]] = np.nan
    with tracking.global_uri(config):
        assert len(model.predict(odd)) == 3


def test_model_carries_signature_example_and_its_requirements(trained_study) -> None:
    ts = trained_study
    with tracking.global_uri(ts.config):
        info = mlflow.models.get_model_info(f"models:/{ts.name}@champion")
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{ts.name}@champion"))
    inputs = {c.name: c for c in info.signature.inputs.inputs}
    assert set(inputs) == {"a", "b", "colour", "visits"}
    assert inputs["colour"].type == DataType.string and not inputs["colour"].required  # blanks at training time
    assert inputs["b"].type == DataType.double and inputs["b"].required
    assert {c.name for c in info.signature.outputs.inputs} == {"prediction", "probability_no", "probability_yes"}
    example = pd.read_json(local / "input_example.json", orient="split")
    assert len(example) == 5
    reqs = (local / "requirements.txt").read_text().split()
    names = {r.split("==")[0].lower() for r in reqs}
    assert {"featuretools", "lightgbm", "scikit-learn", "mlflow", "pandas"} <= names
    assert "torch" not in names and "optuna" not in names and "apache-airflow" not in names
    assert all("==" in r for r in reqs)
    assert (local / "code" / "automl" / "model" / "pyfunc.py").is_file()
    assert (local / "code" / "feature_engineering" / "dfs.py").is_file()


def test_parent_run_has_dataset_lineage_and_raw_column_importance(trained_study) -> None:
    config = trained_study.config
    parent = trained_study.result.registered.parent_run_id
    c = tracking.client(config)
    run = c.get_run(parent)
    contexts = {next(t.value for t in d.tags if t.key == "mlflow.data.context") for d in run.inputs.dataset_inputs}
    assert contexts == {"training", "holdout"}
    assert {a.path for a in c.list_artifacts(parent, "importance")} == {
        "importance/permutation_importance.csv",
        "importance/permutation_importance.png",
    }
    local = mlflow.artifacts.download_artifacts(
        run_id=parent, artifact_path="importance/permutation_importance.csv", tracking_uri=config.mlflow_uri
    )
    table = pd.read_csv(local)
    assert set(table["column"]) == {"a", "b", "colour", "visits"}  # raw columns, not the DFS ones
    top = table.sort_values("importance_mean", ascending=False)["column"].head(3)
    assert "visits" not in set(top.head(1))  # noise ranks below the columns the label depends on
