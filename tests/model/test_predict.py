"""Acceptance 4 (CLI): ``automl predict`` writes a prediction for every input row; bad input gets one
clear error naming the column, and no output file (not even a partial one) is left."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from automl.cli import main
from model.fixtures import user_frame


def _predict(ts, source: Path, output: Path) -> int:
    return main(
        [
            "predict",
            f"models:/{ts.name}@champion",
            str(source),
            "-o",
            str(output),
            "--tracking-uri",
            ts.config.mlflow_uri,
        ]
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_scores_every_row(trained_study, tmp_path: Path, suffix: str, capsys) -> None:
    rows = user_frame(60, seed=9).drop(columns=["label"])
    source = tmp_path / f"next_month{suffix}"
    rows.to_csv(source, index=False) if suffix == ".csv" else rows.to_parquet(source, index=False)
    output = tmp_path / "out" / f"predictions{suffix}"
    assert _predict(trained_study, source, output) == 0
    out = pd.read_csv(output) if suffix == ".csv" else pd.read_parquet(output)
    assert len(out) == len(rows) == 60
    assert {"prediction", "probability_no", "probability_yes", "model_version"} <= set(out.columns)
    assert set(out["model_version"].astype(str)) == {"1"}
    assert out["prediction"].isin(["yes", "no"]).all()
    assert list(out["a"].fillna(-1)) == list(rows["a"].fillna(-1))  # the input columns, in order
    assert "60 rows scored" in capsys.readouterr().out
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temporary file left


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    rows = user_frame(20, seed=3).drop(columns=["label"])
    missing = tmp / "missing.csv"
    rows.drop(columns=["colour"]).to_csv(missing, index=False)
    wrong = tmp / "wrong_type.csv"
    text = rows.astype({"b": object})
    text.loc[4, "b"] = "twelve"
    text.to_csv(wrong, index=False)
    empty = tmp / "empty.csv"
    empty.write_text("")
    header_only = tmp / "header_only.csv"
    rows.head(0).to_csv(header_only, index=False)
    return {
        "missing column": (missing, "'colour'"),
        "wrong type": (wrong, "column 'b' must be numeric"),
        "empty file": (empty, "is empty"),
        "no rows": (header_only, "has no rows"),
    }


def test_bad_input_is_one_clear_error_and_no_output(trained_study, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for case, (source, expected) in _bad_inputs(tmp_path).items():
        output = out_dir / "predictions.csv"
        assert _predict(trained_study, source, output) == 2, case
        err = capsys.readouterr().err
        assert expected in err, f"{case}: {err}"
        assert len(err.strip().splitlines()) == 1, f"{case}: one line, not a traceback: {err}"
        assert list(out_dir.iterdir()) == [], f"{case}: left {list(out_dir.iterdir())}"
