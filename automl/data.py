"""Load, validate and split a study's dataset."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from automl.config import SqlSourceConfig, StudyConfig, is_uri
from automl.redact import redact

SKLEARN_DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "iris")


class DataError(ValueError):
    """The dataset cannot be used for this study; the message says why."""


@dataclass(frozen=True)
class Split:
    train_path: Path
    holdout_path: Path
    n_train: int
    n_holdout: int
    n_columns: int


def conn_env_var(conn_id: str) -> str:
    """The environment variable through which the Airflow plugin hands a connection's SQLAlchemy URL to the
    stage that reads a ``{conn_id, sql}`` source (never through XCom, a file or a log line)."""
    return "AUTOML_CONN_" + re.sub(r"[^A-Z0-9]", "_", conn_id.upper())


def read_sql(source: SqlSourceConfig) -> pd.DataFrame:
    """Run the source's query on the database whose SQLAlchemy URL is in its environment variable."""
    import sqlalchemy

    var = conn_env_var(source.conn_id) if source.conn_id else str(source.url_env)
    url = os.environ.get(var)
    if not url:
        if source.conn_id:
            raise DataError(
                f"dataset source: Airflow connection {source.conn_id!r} is resolved only inside an Airflow run "
                f"(the DAG sets ${var}); outside Airflow use {{url_env: AUTOML_..., sql: ...}}"
            )
        raise DataError(f"dataset source: environment variable {var} (a SQLAlchemy URL) is not set")
    if "{{" in source.sql:
        raise DataError("dataset source: the SQL has Airflow template variables; they are rendered only in a DAG run")
    try:
        engine = sqlalchemy.create_engine(url)
    except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as err:
        raise DataError(
            f"dataset source ({source.label}): invalid SQLAlchemy URL in ${var}: {type(err).__name__}"
        ) from None
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sqlalchemy.text(source.sql), conn)
    except sqlalchemy.exc.SQLAlchemyError as err:
        detail = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise DataError(f"dataset source ({source.label}): the query failed: {redact(detail)}") from None
    finally:
        engine.dispose()


def read_dataset(source: str | SqlSourceConfig) -> pd.DataFrame:
    """Read a dataset named by a config's ``dataset.source``: a bundled set, a path or fsspec URI, or SQL."""
    if isinstance(source, SqlSourceConfig):
        return read_sql(source)
    if "{{" in source:
        raise DataError(f"dataset source {source} has Airflow template variables; they are rendered only in a DAG run")
    if source.startswith("sklearn:"):
        name = source.split(":", 1)[1]
        if name not in SKLEARN_DATASETS:
            raise DataError(f"unknown bundled dataset {name!r}; known: {list(SKLEARN_DATASETS)}")
        import sklearn.datasets as skd

        bunch = getattr(skd, f"load_{name}")(as_frame=True)
        frame: pd.DataFrame = bunch.frame.copy()
        frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
        return frame
    return read_file(source, "dataset")


def read_file(source: str, what: str) -> pd.DataFrame:
    """A CSV or Parquet file: a local path or any URI that pandas reads through fsspec."""
    shown = redact(source)
    if not is_uri(source) and not Path(source).exists():
        raise DataError(f"{what} file not found: {shown}")
    try:
        base = source.lower().split("?", 1)[0]
        return pd.read_csv(source) if base.endswith(".csv") else pd.read_parquet(source)
    except FileNotFoundError:
        raise DataError(f"{what} file not found: {shown}") from None
    except ImportError as err:  # e.g. s3fs/gcsfs missing for s3:// / gs://
        raise DataError(f"cannot read {what} {shown}: {err}") from None
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read {what} {shown}: {redact(str(err))}") from None


def validate(frame: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Check the frame is usable for the study; return it with rows lacking a target removed."""
    target = config.dataset.target
    src = config.dataset.label
    if frame.shape[0] == 0:
        raise DataError(f"dataset {src} is empty (0 rows)")
    if target not in frame.columns:
        raise DataError(f"target column {target!r} not found in dataset {src}; columns: {list(frame.columns)[:20]}")
    features = [c for c in frame.columns if c != target]
    if config.dataset.relational:  # the target table's own columns may be only its id and times
        t = config.dataset.tables[str(config.dataset.target_table)]
        features = [c for c in features if c not in (t.index, config.dataset.cutoff_time)] or [t.index]
    if not features:
        raise DataError(f"dataset {src} has no feature columns besides the target {target!r}")
    frame = frame[frame[target].notna()]
    if frame.shape[0] == 0:
        raise DataError(f"target column {target!r} of dataset {src} is entirely missing (all NaN)")
    if frame[features].isna().all().all():
        raise DataError(f"every feature column of dataset {src} is entirely missing (all NaN)")
    garbled = _garbled_numeric_columns(frame[features])
    if garbled:
        raise DataError(
            f"dataset {src}: column(s) that are numeric apart from a few non-numeric values: "
            + "; ".join(f"{c!r} ({n} values such as {ex!r})" for c, n, ex in garbled)
            + ". Fix or blank those values (or make the column text throughout)"
        )
    if config.task == "classification":
        counts = frame[target].value_counts()
        if len(counts) < 2:
            raise DataError(f"target {target!r} has a single class; classification needs at least two")
        if counts.min() < config.budget.cv_folds + 1:
            raise DataError(
                f"class {counts.idxmin()!r} of target {target!r} has {counts.min()} rows; "
                f"need more than cv_folds={config.budget.cv_folds} to stratify"
            )
    else:
        if not pd.api.types.is_numeric_dtype(frame[target]):
            raise DataError(f"regression target {target!r} is not numeric (dtype {frame[target].dtype})")
    if frame.shape[0] < 2 * config.budget.cv_folds + 2:
        raise DataError(f"dataset {src} has only {frame.shape[0]} usable rows; too few for a holdout and CV")
    return frame.reset_index(drop=True)


def _garbled_numeric_columns(frame: pd.DataFrame, max_share: float = 0.1) -> list[tuple[str, int, list[str]]]:
    """Text columns whose values are numbers except for a few (at most ``max_share``): garbage in numeric data."""
    out = []
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        present = values.dropna()
        if present.empty:
            continue
        bad = present[pd.to_numeric(present, errors="coerce").isna()]
        if 0 < len(bad) <= max_share * len(present):
            out.append((str(col), int(len(bad)), [str(v) for v in bad.unique()[:3]]))
    return out


def split_holdout(frame: pd.DataFrame, config: StudyConfig, out_dir: Path) -> Split:
    """Split off the untouched holdout and write both parts as Parquet (idempotent)."""
    target = config.dataset.target
    stratify = frame[target] if config.task == "classification" else None
    train, holdout = train_test_split(
        frame, test_size=config.dataset.holdout_fraction, random_state=config.seed, stratify=stratify
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, holdout_path = out_dir / "train.parquet", out_dir / "holdout.parquet"
    _write_atomic(train.reset_index(drop=True), train_path)
    _write_atomic(holdout.reset_index(drop=True), holdout_path)
    return Split(train_path, holdout_path, len(train), len(holdout), frame.shape[1] - 1)


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def summarize(frame: pd.DataFrame, config: StudyConfig) -> dict[str, float | int | str]:
    """A small dataset summary for the MLflow parent run."""
    target = config.dataset.target
    x = frame.drop(columns=[target])
    summary: dict[str, float | int | str] = {
        "rows": int(frame.shape[0]),
        "columns": int(x.shape[1]),
        "numeric_columns": int(x.select_dtypes(include=np.number).shape[1]),
        "missing_ratio": float(x.isna().mean().mean()),
    }
    if config.task == "classification":
        counts = frame[target].value_counts()
        summary["classes"] = int(len(counts))
        summary["minority_ratio"] = float(counts.min() / counts.sum())
    else:
        summary["target_std"] = float(frame[target].std())
    return summary


def relationships(config: StudyConfig) -> list[Any]:
    from feature_engineering.relational import Relationship

    ds = config.dataset
    out = []
    for r in ds.relationships:
        parent_col = r.parent_column or ds.tables[r.parent].index
        out.append(Relationship(r.parent, r.child, parent_col, r.child_column or parent_col))
    return out


def load_relational(config: StudyConfig) -> dict[str, Any]:
    """Read every table of a relational dataset and check the schema the config names."""
    from feature_engineering.dfs import FeatureError
    from feature_engineering.relational import Table, check_schema

    ds = config.dataset
    try:
        tables = {
            name: Table(name, read_file(t.path, f"table {name!r}"), t.index, t.time_index, t.logical_types)
            for name, t in ds.tables.items()
        }
        check_schema(tables, relationships(config))
    except FeatureError as err:
        raise DataError(str(err)) from None
    target = tables[str(ds.target_table)].frame
    if ds.cutoff_time:
        if ds.cutoff_time not in target.columns:
            raise DataError(f"cutoff_time column {ds.cutoff_time!r} does not exist in target table {ds.target_table!r}")
        parsed = pd.to_datetime(target[ds.cutoff_time], errors="coerce")
        if parsed.isna().any():
            raise DataError(
                f"cutoff_time column {ds.cutoff_time!r} has {int(parsed.isna().sum())} missing or unparseable times"
            )
    for t in tables.values():  # woodwork needs real datetimes in a time index
        if t.time_index:
            t.frame[t.time_index] = pd.to_datetime(t.frame[t.time_index], errors="coerce")
    return tables
