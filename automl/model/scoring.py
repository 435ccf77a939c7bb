"""Batch scoring with a registered model: a CSV/Parquet file of raw rows in, one prediction row per input row out.

Used by ``automl predict MODEL_URI INPUT -o OUTPUT`` and by a study's scoring DAG. The input is
checked against the model's signature first, so a missing column, a column of the wrong type or an
empty file gets one error naming the problem. The output (the input columns, the model's
``prediction`` and ``probability_<label>`` columns and ``model_version``) is written to a temporary
file beside the target and renamed into place: a failed run leaves no partial output.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

VERSION_COLUMN = "model_version"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class ScoringError(ValueError):
    """The input cannot be scored; the message says which file or column and why."""


@dataclass(frozen=True)
class ScoringResult:
    """What a scoring run did."""

    model_uri: str
    model_version: str
    rows: int
    output: str
    seconds: float


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ScoringError(f"{path}: use a .csv or .parquet file")


def read_rows(path: Path) -> pd.DataFrame:
    """The rows to score; an absent, unreadable or empty file is an error."""
    kind = _kind(path)
    if not path.is_file():
        raise ScoringError(f"input file not found: {path}")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise ScoringError(f"input file {path} is empty (no header, no rows)") from None
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise ScoringError(f"cannot read input file {path}: {err}") from None
    if frame.empty:
        raise ScoringError(f"input file {path} has no rows to score")
    return frame


def check_rows(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Check the rows against the model's input schema; numbers read as text are converted where they parse.

    A CSV reads a numeric column with a stray word as text: that column is named with an example value.
    """
    from mlflow.types.schema import AnyType, DataType

    if schema is None:
        return frame
    specs = schema.inputs
    missing = [c.name for c in specs if c.name not in frame.columns]
    if missing:
        raise ScoringError(
            f"input is missing column(s) {missing} that the model needs (it reads {[c.name for c in specs]})"
        )
    out = frame.copy()
    numeric = (DataType.double, DataType.float, DataType.long, DataType.integer)
    for spec in specs:
        col, values = spec.name, frame[spec.name]
        if spec.type in numeric or isinstance(spec.type, AnyType):
            if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                parsed = pd.to_numeric(values, errors="coerce")
                bad = values[parsed.isna() & values.notna()]
                if len(bad):
                    raise ScoringError(
                        f"column {col!r} must be numeric, but {len(bad)} value(s) are not, such as {bad.iloc[0]!r}"
                    )
                values = parsed
            if spec.type in (DataType.double, DataType.float):
                values = values.astype("float64")
            out[col] = values
        elif spec.type == DataType.string:
            out[col] = values.astype("string").astype(object).where(values.notna(), None)
    return out


def model_version(model_uri: str, tracking_uri: str | None = None) -> str:
    """The registered version a ``models:/name@alias`` or ``models:/name/N`` URI points at ('' otherwise)."""
    from mlflow.tracking import MlflowClient

    m = _MODELS_URI.match(model_uri)
    if not m:
        return ""
    if m.group("version"):
        return m.group("version")
    return str(MlflowClient(tracking_uri).get_model_version_by_alias(m.group("name"), m.group("alias")).version)


def write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write CSV/Parquet to a temporary file beside ``path``, then rename it into place."""
    kind = _kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if kind == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def score_file(
    model_uri: str, source: Path, output: Path, tracking_uri: str | None = None, params: dict[str, Any] | None = None
) -> ScoringResult:
    """Score every row of ``source`` with the model and write ``output`` (see the module docstring)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from automl.tracking import uri_context

    started = time.perf_counter()
    _kind(output)  # a bad output name fails before any work
    rows = read_rows(source)
    with uri_context(tracking_uri):
        version = model_version(model_uri, tracking_uri)
        model = mlflow.pyfunc.load_model(model_uri)
        rows = check_rows(rows, model.metadata.get_input_schema())
        try:
            predictions = model.predict(rows, params=params) if params else model.predict(rows)
        except MlflowException as err:  # MLflow's schema enforcement names the column
            raise ScoringError(f"{source}: {str(err).splitlines()[0]}") from None
    if len(predictions) != len(rows):
        raise ScoringError(f"the model returned {len(predictions)} rows for {len(rows)} input rows")
    out = pd.concat([rows.reset_index(drop=True), pd.DataFrame(predictions).reset_index(drop=True)], axis=1)
    out[VERSION_COLUMN] = version
    write_atomic(out, output)
    return ScoringResult(model_uri, version, len(out), str(output), time.perf_counter() - started)


def log_scoring_run(
    tracking_uri: str, experiment_id: str, result: ScoringResult, source: str, tags: dict[str, str]
) -> str:
    """A scoring run in MLflow: rows, model version and time; returns its run id."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri)
    run = c.create_run(
        experiment_id,
        run_name=f"scoring v{result.model_version}",
        tags={"automl.role": "scoring", "automl.model_uri": result.model_uri, **tags},
    )
    rid = run.info.run_id
    c.log_param(rid, "model_version", result.model_version)
    c.log_param(rid, "source", source)
    c.log_param(rid, "output", result.output)
    c.log_metric(rid, "rows", result.rows)
    c.log_metric(rid, "scoring_seconds", result.seconds)
    c.set_terminated(rid, "FINISHED")
    return rid
