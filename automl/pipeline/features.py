"""Stages ``generate_features`` (featuretools DFS) and ``select_features`` (fitted on training rows only)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from automl.config import StudyConfig
from automl.data import load_relational, relationships
from automl.measure import fitting
from automl.pipeline.artifacts import GeneratedFeatures, LoadedData, RunContext, SelectedFeatures, write_json
from feature_engineering.dfs import (
    DeepFeatureSynthesis,
    FeatureError,
    load_feature_definitions,
    save_feature_definitions,
)
from feature_engineering.relational import RelationalDFS, Table, build_entityset, calculate_relational
from feature_engineering.selection import FeatureSelector, GeneratedFeatureCheck, LeakageGuard, ModelBasedSelector

log = logging.getLogger("automl.pipeline")


def _generate_single(config: StudyConfig, train: Any, holdout: Any) -> tuple[list[Any], dict[str, Any], list[Any]]:
    fc, target = config.features, config.dataset.target
    dfs = DeepFeatureSynthesis(
        trans_primitives=fc.trans_primitives if fc.enabled else [],
        max_depth=fc.max_depth,
        max_features=fc.max_generated,
    ).fit(train.drop(columns=[target]))
    return dfs.features_, dfs.logical_types_, [dfs.transform(f.drop(columns=[target])) for f in (train, holdout)]


def _generate_relational(config: StudyConfig, train: Any, holdout: Any) -> tuple[list[Any], dict[str, Any], list[Any]]:
    ds, fc = config.dataset, config.features
    target_table = str(ds.target_table)
    tables = load_relational(config)
    t = tables[target_table]
    # the label never enters the EntitySet; the cutoff column is not a feature
    tables[target_table] = Table(t.name, t.frame.drop(columns=[ds.target]), t.index, t.time_index, t.logical_types)
    es = build_entityset(tables, relationships(config))
    ignore = {k: list(v) for k, v in fc.ignore_columns.items()}
    if ds.cutoff_time:
        ignore.setdefault(target_table, []).append(ds.cutoff_time)
    dfs = RelationalDFS(
        agg_primitives=fc.agg_primitives if fc.enabled else [],
        trans_primitives=fc.trans_primitives if fc.enabled else [],
        max_depth=fc.max_depth,
        max_features=fc.max_generated,
        ignore_columns=ignore,
        drop_contains=fc.drop_contains,
    ).fit(es, target_table)
    matrices = []
    for part in (train, holdout):
        cutoff = pd.to_datetime(part[ds.cutoff_time]) if ds.cutoff_time else None
        matrices.append(calculate_relational(dfs.features_, es, part[t.index], cutoff))
    return dfs.features_, {"relational": ds.model_dump(mode="json")}, matrices


def generate_features(ctx: RunContext, data: LoadedData) -> GeneratedFeatures:
    """Deep Feature Synthesis: definitions learned from the training data only, then computed for both parts."""
    config, out = ctx.config, ctx.out
    target = config.dataset.target
    train, holdout = pd.read_parquet(data.train), pd.read_parquet(data.holdout)
    started = time.perf_counter()
    generate = _generate_relational if config.dataset.relational else _generate_single
    features, logical_types, matrices = generate(config, train, holdout)
    paths = {}
    for part, frame, fm in (("train", train, matrices[0]), ("holdout", holdout, matrices[1])):
        fm[target] = frame[target].to_numpy()
        paths[part] = out / f"{part}_generated.parquet"
        fm.to_parquet(paths[part], index=False)
    definitions = out / "features_generated.json"
    save_feature_definitions(features, definitions, logical_types)
    seconds = time.perf_counter() - started
    names = [c for c in matrices[0].columns if c != target]
    write_json(out / "features_generated_names.json", names)
    log.info("DFS generated %d features in %.1f s", len(names), seconds)
    return GeneratedFeatures(
        train=str(paths["train"]),
        holdout=str(paths["holdout"]),
        definitions=str(definitions),
        n_generated=len(names),
        seconds=seconds,
        names=str(out / "features_generated_names.json"),
    )


def _leakage(
    config: StudyConfig, X: pd.DataFrame, y: pd.Series, kept: list[str], dropped: dict[str, str], out: Path
) -> tuple[list[str], dict[str, float]]:
    """The leakage guard: one-feature CV scores; suspected leaks are dropped or fail the stage."""
    fc = config.features
    with fitting():
        leaks = LeakageGuard(config.task, fc.leakage.threshold, seed=config.seed).fit(X[kept], y).leaks_
    for col, value in leaks.items():
        log.warning(
            "leakage guard: feature %r alone scores %.4f (> %.2f) on CV of the training rows",
            col,
            value,
            fc.leakage.threshold,
        )
    if leaks and fc.leakage.action == "fail":
        write_json(out / "feature_selection.json", {"leaks": leaks})
        raise FeatureError(
            f"suspected target leakage: {', '.join(f'{c} ({v:.4f})' for c, v in leaks.items())}; "
            "remove the column(s) or set features.leakage.action: drop"
        )
    for col, value in leaks.items():
        dropped[col] = f"suspected leakage: one-feature CV score {value:.4f}"
    return [c for c in kept if c not in leaks], leaks


def _generated_must_help(
    config: StudyConfig, X: pd.DataFrame, y: pd.Series, kept: list[str], dropped: dict[str, str], original: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """Single table: keep DFS's generated columns only when they improve a quick LightGBM's CV loss."""
    with fitting():
        check = GeneratedFeatureCheck(config.task, seed=config.seed).fit(X[kept], y, original)
    report = {"scores": check.scores_, "kept_generated": check.keep_generated_}
    if check.keep_generated_ or not check.scores_:
        return kept, report
    with_gen, without = check.scores_["with_generated"], check.scores_["original"]
    log.info("generated features dropped: CV loss %.5g with them vs %.5g on the original columns", with_gen, without)
    for col in kept:
        if col not in original:
            dropped[col] = (
                f"generated features did not improve CV loss ({with_gen:.5g} with them vs {without:.5g} without)"
            )
    return [c for c in kept if c in original], report


def model_rows(config: StudyConfig, X: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """The rows the selection's models are fitted on: all of them, or a seeded sample of
    ``features.model_rows`` (stratified for classification when every class has two rows or more)."""
    n = config.features.model_rows
    if n is None or len(X) <= n:
        return X, y
    from sklearn.model_selection import train_test_split

    stratify = y if config.task == "classification" and y.value_counts().min() >= 2 else None
    try:
        Xs, _, ys, _ = train_test_split(X, y, train_size=n, random_state=config.seed, stratify=stratify)
    except ValueError:  # a class too rare for a stratified sample of this size
        Xs, _, ys, _ = train_test_split(X, y, train_size=n, random_state=config.seed)
    return Xs, ys


def select_features(ctx: RunContext, generated: GeneratedFeatures) -> SelectedFeatures:
    """Selection fitted on training rows only: featuretools' null / single-value / low-information /
    correlation filters, the leakage guard, then LightGBM importance under CV down to ``max_features``."""
    from featuretools.feature_base import IdentityFeature  # featuretools' submodule: heavy, used here only

    config, out = ctx.config, ctx.out
    fc = config.features
    target = config.dataset.target
    features, logical_types = load_feature_definitions(Path(generated.definitions))
    train = pd.read_parquet(generated.train)
    X, y = train.drop(columns=[target]), train[target]
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # select: false (e.g. image pixels, whose position matters): no filter, every column kept in order
    selector = FeatureSelector(fc.null_threshold, fc.corr_threshold, filters=fc.select).fit(X, features)
    kept, dropped = list(selector.selected_columns_), dict(selector.dropped_)
    timings["filters"] = time.perf_counter() - started
    Xm, ym = model_rows(config, X, y)  # the models below; the filters above saw every row
    leaks: dict[str, float] = {}
    if fc.leakage.action != "off" and fc.select:
        t0 = time.perf_counter()
        kept, leaks = _leakage(config, Xm, ym, kept, dropped, out)
        timings["leakage_guard"] = time.perf_counter() - t0
    generated_check: dict[str, Any] = {}
    if fc.select and fc.generated_must_help and not config.dataset.relational:
        t0 = time.perf_counter()
        original = [n for f in features if isinstance(f, IdentityFeature) for n in f.get_feature_names()]
        kept, generated_check = _generated_must_help(config, Xm, ym, kept, dropped, original)
        timings["generated_check"] = time.perf_counter() - t0
    importances: dict[str, float] = {}
    if fc.select and fc.max_features is not None and len(kept) > fc.max_features:
        t0 = time.perf_counter()
        with fitting():
            mbs = ModelBasedSelector(fc.max_features, config.task, seed=config.seed).fit(Xm[kept], ym)
        importances = mbs.importances_
        for rank, col in enumerate(mbs.importances_, start=1):
            if col not in mbs.selected_columns_:
                dropped[col] = f"importance rank {rank} (keeping the top {fc.max_features})"
        kept = [c for c in kept if c in mbs.selected_columns_]
        timings["model_based"] = time.perf_counter() - t0
    if not kept:
        raise FeatureError("feature selection dropped every feature")
    timings["total"] = time.perf_counter() - started
    by_name = {}
    for f in selector.selected_features_:
        for name in f.get_feature_names():
            by_name[name] = f
    kept_features = list({id(by_name[c]): by_name[c] for c in kept if c in by_name}.values())
    keep = kept + [target]
    paths = {"train": out / "train_features.parquet", "holdout": out / "holdout_features.parquet"}
    train[keep].to_parquet(paths["train"], index=False)
    pd.read_parquet(generated.holdout)[keep].to_parquet(paths["holdout"], index=False)
    definitions = out / "feature_definitions.json"
    save_feature_definitions(kept_features, definitions, logical_types)
    report = {
        "generated": json.loads(Path(generated.names).read_text()),
        "kept": kept,
        "dropped": dropped,
        "leaks": leaks,
        "generated_check": generated_check,
        "importances": importances,
        "seconds": timings,
        "fitted_on_rows": int(train.shape[0]),
        "model_rows": len(Xm),
    }
    write_json(out / "feature_selection.json", report)
    log.info("selection kept %d of %d features (%.1f s)", len(kept), generated.n_generated, timings["total"])
    return SelectedFeatures(
        train=str(paths["train"]),
        holdout=str(paths["holdout"]),
        definitions=str(definitions),
        n_generated=generated.n_generated,
        n_selected=len(kept),
        report=str(out / "feature_selection.json"),
    )
