"""Deep Feature Synthesis over a relational set of tables.

An EntitySet is built from the tables (woodwork types inferred, overridable),
the target table's label and cutoff columns are kept out of it, and DFS stacks
aggregation and transform primitives along the relationships. With cutoff
times, every feature of an instance is computed from rows known at or before
that instance's cutoff (featuretools' ``time_index`` handling), so nothing
from after the prediction time leaks in.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import featuretools as ft

from feature_engineering.dfs import FeatureError, plain_dtypes


@dataclass(frozen=True)
class Table:
    name: str
    frame: pd.DataFrame
    index: str
    time_index: str | None = None
    logical_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Relationship:
    parent: str
    child: str
    parent_column: str
    child_column: str


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FeatureError(f"table file not found: {path}")
    try:
        return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise FeatureError(f"cannot read table {path}: {err}") from None


def check_schema(tables: Mapping[str, Table], relationships: list[Relationship]) -> None:
    """Every named column exists and every index is unique; raises one error listing all problems."""
    problems = []
    for t in tables.values():
        cols = set(t.frame.columns)
        for what, col in (
            ("index", t.index),
            ("time_index", t.time_index),
            *(("logical_types", c) for c in t.logical_types),
        ):
            if col is not None and col not in cols:
                problems.append(
                    f"table {t.name!r}: {what} column {col!r} does not exist (columns: {sorted(cols)[:15]})"
                )
        if t.index in cols and not t.frame[t.index].is_unique:
            problems.append(f"table {t.name!r}: index column {t.index!r} has duplicate values")
    for r in relationships:
        for table, col in ((r.parent, r.parent_column), (r.child, r.child_column)):
            if table not in tables:
                problems.append(f"relationship {r.parent}->{r.child}: table {table!r} does not exist")
            elif col not in tables[table].frame.columns:
                problems.append(f"relationship {r.parent}->{r.child}: column {col!r} does not exist in table {table!r}")
        if (
            r.parent in tables
            and r.child in tables
            and r.parent_column in tables[r.parent].frame.columns
            and r.child_column in tables[r.child].frame.columns
        ):
            child_keys = tables[r.child].frame[r.child_column].dropna()
            parent_keys = set(tables[r.parent].frame[r.parent_column].dropna())
            if len(child_keys) and not any(k in parent_keys for k in child_keys.unique()):
                problems.append(
                    f"relationship {r.parent}->{r.child}: no value of {r.child}.{r.child_column} "
                    f"({child_keys.dtype}) matches {r.parent}.{r.parent_column} ({tables[r.parent].frame[r.parent_column].dtype})"
                )
        if r.parent in tables and r.parent_column != tables[r.parent].index:
            problems.append(
                f"relationship {r.parent}->{r.child}: parent column {r.parent_column!r} must be the "
                f"parent's index {tables[r.parent].index!r}"
            )
    if problems:
        raise FeatureError("relational dataset: " + "; ".join(problems))


def build_entityset(tables: Mapping[str, Table], relationships: list[Relationship]) -> ft.EntitySet:
    check_schema(tables, relationships)
    es = ft.EntitySet(id="automl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in tables.values():
            try:
                es.add_dataframe(
                    dataframe_name=t.name,
                    dataframe=t.frame.copy(),
                    index=t.index,
                    time_index=t.time_index,
                    logical_types=dict(t.logical_types) or None,
                )
            except (ValueError, TypeError, KeyError) as err:
                raise FeatureError(f"table {t.name!r}: {err}") from None
        for r in relationships:
            try:
                es.add_relationship(r.parent, r.parent_column, r.child, r.child_column)
            except (ValueError, KeyError) as err:
                raise FeatureError(f"relationship {r.parent}->{r.child}: {err}") from None
    return es


class RelationalDFS:
    """Learn feature definitions with DFS on an EntitySet (scikit-learn style parameters)."""

    def __init__(
        self,
        agg_primitives: list[str] | None = None,
        trans_primitives: list[str] | None = None,
        max_depth: int = 2,
        max_features: int = -1,
        ignore_columns: dict[str, list[str]] | None = None,
        drop_contains: list[str] | None = None,
    ) -> None:
        self.agg_primitives = agg_primitives
        self.trans_primitives = trans_primitives
        self.max_depth = max_depth
        self.max_features = max_features
        self.ignore_columns = ignore_columns
        self.drop_contains = drop_contains

    def fit(self, es: ft.EntitySet, target_table: str) -> RelationalDFS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.features_ = ft.dfs(
                    entityset=es,
                    target_dataframe_name=target_table,
                    agg_primitives=list(self.agg_primitives or []),
                    trans_primitives=list(self.trans_primitives or []),
                    max_depth=self.max_depth,
                    max_features=self.max_features,
                    ignore_columns=self.ignore_columns or None,
                    drop_contains=self.drop_contains or None,
                    features_only=True,
                )
            except (ValueError, KeyError, NotImplementedError) as err:
                raise FeatureError(f"DFS failed: {err}") from None
        self.target_table_ = target_table
        return self


def calculate_relational(
    features: list[Any], es: ft.EntitySet, ids: pd.Series, cutoff: pd.Series | None = None
) -> pd.DataFrame:
    """Feature matrix for the target-table instances ``ids`` (in that order), at their cutoff times."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cutoff is not None:
            ct = pd.DataFrame({"instance_id": ids.to_numpy(), "time": pd.to_datetime(cutoff).to_numpy()})
            fm = ft.calculate_feature_matrix(
                features=features, entityset=es, cutoff_time=ct, cutoff_time_in_index=False
            )
        else:
            fm = ft.calculate_feature_matrix(features=features, entityset=es, instance_ids=list(ids))
    fm = fm.loc[~fm.index.duplicated()].reindex(ids.to_numpy())
    return plain_dtypes(fm.reset_index(drop=True))
