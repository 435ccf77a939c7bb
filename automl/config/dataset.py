"""The data a study learns from, and the feature step that runs on it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from automl.config.base import _Strict

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ENV_NAME_RE = re.compile(r"^AUTOML_[A-Z0-9_]+$")


def is_uri(path: str) -> bool:
    """``s3://...``, ``file://...``, ``memory://...``: read through fsspec, never resolved as a local path."""
    return bool(_URI_RE.match(path))


def resolve_against(path: str, info: ValidationInfo) -> str:
    """A relative local path resolved against the study file's folder (``base_dir`` in the validation context).

    URIs, absolute paths, paths that start with a template (``{{ ... }}``) and configs read without a
    file (no ``base_dir``) are left as they are.
    """
    base = (info.context or {}).get("base_dir")
    if base is None or is_uri(path) or path.startswith("{{") or Path(path).is_absolute():
        return path
    return str((Path(base) / path).resolve())


def _check_path(v: str) -> str:
    if not v.lower().endswith((".csv", ".parquet", ".pq")):
        raise ValueError("must be a path or URI ending in .csv or .parquet")
    return v


class SqlSourceConfig(_Strict):
    """A table read with a SQL query: through an Airflow connection (in the DAG) or a URL in an environment
    variable (``automl run``, workers outside Airflow). The URL itself never appears in the config."""

    conn_id: str | None = Field(
        None, description="Airflow connection id; the DAG resolves it with the provider's hook (Airflow only)"
    )
    url_env: str | None = Field(
        None,
        description="name of an environment variable (AUTOML_...) holding a SQLAlchemy URL, for runs outside Airflow",
    )
    sql: str = Field(min_length=1, description="the query returning the training rows (may use Airflow templates)")

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME_RE.match(v):
            raise ValueError("must name an environment variable starting with AUTOML_ (upper case, digits, '_')")
        return v

    @model_validator(mode="after")
    def _one_way(self) -> SqlSourceConfig:
        if (self.conn_id is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'conn_id' (Airflow connection) or 'url_env' (environment variable)")
        return self

    @property
    def label(self) -> str:
        return f"SQL via connection {self.conn_id!r}" if self.conn_id else f"SQL via ${self.url_env}"


class TableConfig(_Strict):
    """One table of a relational dataset."""

    path: str = Field(description="path or URI of the table's CSV or Parquet file")
    index: str = Field(description="the table's unique id column")
    time_index: str | None = Field(None, description="when each row became known (used with cutoff times)")
    logical_types: dict[str, str] = Field(default_factory=dict, description="woodwork types overriding inference")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str, info: ValidationInfo) -> str:
        return resolve_against(_check_path(v), info)


class RelationshipConfig(_Strict):
    """A one-to-many link between two tables of a relational dataset."""

    parent: str = Field(description="the table on the 'one' side")
    child: str = Field(description="the table on the 'many' side")
    parent_column: str | None = Field(None, description="default: the parent's index")
    child_column: str | None = Field(None, description="default: same name as the parent column")


class DatasetConfig(_Strict):
    """A single table (``source``) or a relational set of tables (``tables`` + ``relationships``).

    Relative paths are resolved against the folder of the study file. A path, URI or query may use
    Airflow's template variables (``{{ ds }}``): the DAG renders them per run.
    """

    source: str | SqlSourceConfig | None = Field(
        None,
        description="'sklearn:<name>', a path or fsspec URI (file://, s3://, gs://, https://, memory://) of a CSV "
        "or Parquet file, or a SQL source {conn_id | url_env, sql}",
    )
    target: str = Field(description="the column to predict")
    holdout_fraction: float = Field(
        0.2, gt=0.0, lt=0.9, description="share of rows kept out of the search to score the final model"
    )
    tables: dict[str, TableConfig] = Field(default_factory=dict, description="relational: the tables, by name")
    relationships: list[RelationshipConfig] = Field(
        default_factory=list, description="relational: how the tables link to each other"
    )
    target_table: str | None = Field(None, description="relational: the table whose rows are predicted")
    image_shape: list[int] | None = Field(
        None,
        min_length=2,
        max_length=3,
        description="image data: [height, width] or [channels, height, width]; columns are the pixels in order",
    )
    sequence_shape: list[int] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="sequence data: [steps, features]; each row's columns are the steps' feature vectors in order",
    )
    cutoff_time: str | None = Field(
        None, description="relational: column of the target table; features use only data known before it"
    )

    @field_validator("source")
    @classmethod
    def _source_kind(cls, v: str | SqlSourceConfig | None, info: ValidationInfo) -> str | SqlSourceConfig | None:
        if not isinstance(v, str) or v.startswith("sklearn:"):
            return v
        if not v.lower().endswith((".csv", ".parquet", ".pq")):
            raise ValueError("must be 'sklearn:<name>' or a path or URI ending in .csv or .parquet")
        return resolve_against(v, info)

    @model_validator(mode="after")
    def _one_kind(self) -> DatasetConfig:
        if self.image_shape and self.sequence_shape:
            raise ValueError("give image_shape or sequence_shape, not both")
        if any(v < 1 for v in (self.image_shape or []) + (self.sequence_shape or [])):
            raise ValueError("image_shape and sequence_shape take positive sizes")
        if bool(self.source) == bool(self.tables):
            raise ValueError("give either 'source' (one table) or 'tables' (relational), not both or neither")
        if self.tables:
            problems = []
            if self.target_table not in self.tables:
                problems.append(f"target_table {self.target_table!r} is not one of the tables {sorted(self.tables)}")
            for i, r in enumerate(self.relationships):
                for end in (r.parent, r.child):
                    if end not in self.tables:
                        problems.append(f"relationships[{i}] names table {end!r}, which is not in tables")
            if problems:
                raise ValueError("; ".join(problems))
        elif self.relationships or self.target_table or self.cutoff_time:
            raise ValueError("relationships, target_table and cutoff_time need 'tables'")
        return self

    @property
    def relational(self) -> bool:
        return bool(self.tables)

    @property
    def label(self) -> str:
        if isinstance(self.source, SqlSourceConfig):
            return self.source.label
        return self.source or f"tables {sorted(self.tables)} (target table {self.target_table})"


class LeakageConfig(_Strict):
    """The check for features that give the target away."""

    action: Literal["drop", "fail", "off"] = Field(
        "drop", description="what to do with a leaking feature: drop it, fail the run, or not check"
    )
    threshold: float = Field(0.99, gt=0.5, le=1.0, description="one-feature CV AUC (or R^2) that counts as a leak")


class FeaturesConfig(_Strict):
    """The feature step: deep feature synthesis, then selection."""

    enabled: bool = Field(True, description="generate features with deep feature synthesis")
    select: bool = Field(True, description="run feature selection (off: keep every column, in order)")
    trans_primitives: list[str] = Field(
        default_factory=lambda: ["add_numeric", "multiply_numeric"],
        description="featuretools transform primitives applied to columns",
    )
    agg_primitives: list[str] = Field(
        default_factory=lambda: ["sum", "mean", "max", "min", "std", "count", "num_unique", "mode"],
        description="featuretools aggregation primitives (relational only)",
    )
    max_depth: int = Field(1, ge=1, le=3, description="how many primitives deep DFS stacks")
    max_generated: int = Field(300, ge=1, description="cap on DFS output features")
    ignore_columns: dict[str, list[str]] = Field(default_factory=dict, description="table -> columns DFS must not use")
    drop_contains: list[str] = Field(default_factory=list, description="drop generated features whose name contains")
    corr_threshold: float = Field(
        0.95, gt=0.0, le=1.0, description="drop one of two features correlated above this (absolute)"
    )
    null_threshold: float = Field(0.95, gt=0.0, le=1.0, description="drop features with more than this share missing")
    max_features: int | None = Field(None, ge=1, description="keep at most this many, by LightGBM importance under CV")
    generated_must_help: bool = Field(
        True,
        description="single table: keep DFS's generated columns only if they improve a quick LightGBM's CV loss "
        "on the training rows over the original columns alone",
    )
    model_rows: int | None = Field(
        10_000,
        ge=100,
        description="the selection's models (leakage guard, generated-feature check, importance) are fitted on "
        "at most this many training rows, a seeded sample (stratified for classification); the filters see every "
        "row; null: every row",
    )
    leakage: LeakageConfig = Field(
        LeakageConfig(), description="the target-leakage check"
    )  # frozen, so sharing the default is safe
