"""The data a study learns from, and the feature step that runs on it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from automl.config.base import _Strict


def _check_path(v: str) -> str:
    if not v.lower().endswith((".csv", ".parquet", ".pq")):
        raise ValueError("must be a path ending in .csv or .parquet")
    return v


class TableConfig(_Strict):
    """One table of a relational dataset."""

    path: str = Field(description="path or URI of the table's CSV or Parquet file")
    index: str = Field(description="the table's unique id column")
    time_index: str | None = Field(None, description="when each row became known (used with cutoff times)")
    logical_types: dict[str, str] = Field(default_factory=dict, description="woodwork types overriding inference")

    _path = field_validator("path")(classmethod(lambda cls, v: _check_path(v)))


class RelationshipConfig(_Strict):
    """A one-to-many link between two tables of a relational dataset."""

    parent: str = Field(description="the table on the 'one' side")
    child: str = Field(description="the table on the 'many' side")
    parent_column: str | None = Field(None, description="default: the parent's index")
    child_column: str | None = Field(None, description="default: same name as the parent column")


class DatasetConfig(_Strict):
    """A single table (``source``) or a relational set of tables (``tables`` + ``relationships``).

    Relative paths are resolved against the project folder.
    """

    source: str | None = Field(None, description="'sklearn:<name>' or a path/URI to a CSV or Parquet file")
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
    def _source_kind(cls, v: str | None) -> str | None:
        if v is None or v.startswith("sklearn:"):
            return v
        if not v.lower().endswith((".csv", ".parquet", ".pq")):
            raise ValueError("must be 'sklearn:<name>' or a path ending in .csv or .parquet")
        return v

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
    leakage: LeakageConfig = Field(
        LeakageConfig(), description="the target-leakage check"
    )  # frozen, so sharing the default is safe
