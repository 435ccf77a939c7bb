"""The stages of one AutoML run, as plain functions (no Airflow).

Each DAG task calls one of these; so can a notebook or a CLI. Inputs and
outputs are small JSON-able dicts of values and file paths: data moves as
Parquet files in the run's folder, never through XCom. Every stage is
idempotent: a retry overwrites its own outputs or resumes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.config import StudyConfig, config_from_json
from automl.paths import run_dir, safe_name

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

log = logging.getLogger("automl.stages")

PIP_REQUIREMENTS = ["scikit-learn==1.9.1", "lightgbm==4.7.0", "pandas<3", "numpy<2.5"]


def study_name_for(config: StudyConfig, run_id: str) -> str:
    """One study per DAG run: config name + run id."""
    return f"{config.name}__{safe_name(run_id)}"


def read_config(config_path: str) -> StudyConfig:
    return config_from_json(Path(config_path).read_text())


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)


# ---------------------------------------------------------------- load_data
def load_data(config: StudyConfig, study_name: str) -> dict[str, Any]:
    """Validate the dataset, split off the untouched holdout, write Parquet.

    Relational data: the target table's rows are split; every table's schema is
    checked here, so a missing column fails before anything is written.
    """
    import pandas as pd

    from automl.data import load_relational, read_dataset, split_holdout, summarize, validate
    from automl.meta.features import meta_features

    if config.dataset.relational:
        tables = load_relational(config)  # checks every table, column and relationship
        frame = validate(tables[str(config.dataset.target_table)].frame, config)
    else:
        frame = validate(read_dataset(str(config.dataset.source)), config)  # fails before anything is written
    out = run_dir(study_name)
    config_path = out / "config.json"
    _write_json(config_path, config.model_dump(mode="json"))
    split, summary = split_holdout(frame, config, out), summarize(frame, config)
    started = time.perf_counter()
    train = pd.read_parquet(split.train_path)
    if config.dataset.relational:  # ids and times say nothing about the data's nature
        t = config.dataset.tables[str(config.dataset.target_table)]
        train = train.drop(columns=[c for c in (t.index, t.time_index, config.dataset.cutoff_time) if c])
    meta = meta_features(train, config.dataset.target, config.task, config.seed)
    log.info("meta-features (training rows only, %.1f s): %s", time.perf_counter() - started, meta)
    _write_json(out / "dataset_summary.json", {"summary": summary, "meta": meta})
    log.info(
        "dataset %s: %d train rows, %d holdout rows, %d columns",
        config.dataset.label,
        split.n_train,
        split.n_holdout,
        split.n_columns,
    )
    return {
        "config_path": str(config_path),
        "train": str(split.train_path),
        "holdout": str(split.holdout_path),
        "summary": summary,
        "meta": meta,
    }


# ------------------------------------------------------- generate_features
def _generate_single(config: StudyConfig, train: Any, holdout: Any) -> tuple[list[Any], dict[str, Any], list[Any]]:
    from feature_engineering.dfs import DeepFeatureSynthesis

    fc, target = config.features, config.dataset.target
    dfs = DeepFeatureSynthesis(
        trans_primitives=fc.trans_primitives if fc.enabled else [],
        max_depth=fc.max_depth,
        max_features=fc.max_generated,
    ).fit(train.drop(columns=[target]))
    return dfs.features_, dfs.logical_types_, [dfs.transform(f.drop(columns=[target])) for f in (train, holdout)]


def _generate_relational(config: StudyConfig, train: Any, holdout: Any) -> tuple[list[Any], dict[str, Any], list[Any]]:
    import pandas as pd

    from automl.data import load_relational
    from feature_engineering.relational import RelationalDFS, Table, build_entityset, calculate_relational

    ds, fc = config.dataset, config.features
    target_table = str(ds.target_table)
    tables = load_relational(config)
    t = tables[target_table]
    # the label never enters the EntitySet; the cutoff column is not a feature
    tables[target_table] = Table(t.name, t.frame.drop(columns=[ds.target]), t.index, t.time_index, t.logical_types)
    from automl.data import relationships

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


def generate_features(config_path: str, study_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Deep Feature Synthesis: definitions learned from the training data only, then computed for both parts."""
    import pandas as pd

    from feature_engineering.dfs import save_feature_definitions

    config = read_config(config_path)
    out = run_dir(study_name)
    target = config.dataset.target
    train, holdout = pd.read_parquet(data["train"]), pd.read_parquet(data["holdout"])
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
    _write_json(out / "features_generated_names.json", names)
    log.info("DFS generated %d features in %.1f s", len(names), seconds)
    return {
        "train": str(paths["train"]),
        "holdout": str(paths["holdout"]),
        "definitions": str(definitions),
        "n_generated": len(names),
        "seconds": seconds,
        "names": str(out / "features_generated_names.json"),
    }


# --------------------------------------------------------- select_features
def select_features(config_path: str, study_name: str, generated: dict[str, Any]) -> dict[str, Any]:
    """Selection fitted on training rows only: featuretools' null / single-value / low-information /
    correlation filters, the leakage guard, then LightGBM importance under CV down to ``max_features``."""
    import pandas as pd

    from feature_engineering.dfs import FeatureError, load_feature_definitions, save_feature_definitions
    from feature_engineering.selection import (
        FeatureSelector,
        GeneratedFeatureCheck,
        LeakageGuard,
        ModelBasedSelector,
    )

    config = read_config(config_path)
    fc = config.features
    out = run_dir(study_name)
    target = config.dataset.target
    features, logical_types = load_feature_definitions(Path(generated["definitions"]))
    train = pd.read_parquet(generated["train"])
    X, y = train.drop(columns=[target]), train[target]
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # select: false (e.g. image pixels, whose position matters): no filter, every column kept in order
    selector = FeatureSelector(fc.null_threshold, fc.corr_threshold, filters=fc.select).fit(X, features)
    kept, dropped = list(selector.selected_columns_), dict(selector.dropped_)
    timings["filters"] = time.perf_counter() - started
    leaks: dict[str, float] = {}
    if fc.leakage.action != "off" and fc.select:
        t0 = time.perf_counter()
        guard = LeakageGuard(config.task, fc.leakage.threshold, seed=config.seed).fit(X[kept], y)
        leaks = guard.leaks_
        timings["leakage_guard"] = time.perf_counter() - t0
        for col, value in leaks.items():
            log.warning(
                "leakage guard: feature %r alone scores %.4f (> %.2f) on CV of the training rows",
                col,
                value,
                fc.leakage.threshold,
            )
        if leaks and fc.leakage.action == "fail":
            _write_json(out / "feature_selection.json", {"leaks": leaks})
            raise FeatureError(
                f"suspected target leakage: {', '.join(f'{c} ({v:.4f})' for c, v in leaks.items())}; "
                "remove the column(s) or set features.leakage.action: drop"
            )
        for col, value in leaks.items():
            dropped[col] = f"suspected leakage: one-feature CV score {value:.4f}"
        kept = [c for c in kept if c not in leaks]
    generated_check: dict[str, Any] = {}
    if fc.select and fc.generated_must_help and not config.dataset.relational:
        t0 = time.perf_counter()
        from featuretools.feature_base import IdentityFeature

        original = [n for f in features if isinstance(f, IdentityFeature) for n in f.get_feature_names()]
        check = GeneratedFeatureCheck(config.task, seed=config.seed).fit(X[kept], y, original)
        generated_check = {"scores": check.scores_, "kept_generated": check.keep_generated_}
        timings["generated_check"] = time.perf_counter() - t0
        if not check.keep_generated_ and check.scores_:
            log.info(
                "generated features dropped: CV loss %.5g with them vs %.5g on the original columns",
                check.scores_["with_generated"],
                check.scores_["original"],
            )
            for col in kept:
                if col not in original:
                    dropped[col] = (
                        f"generated features did not improve CV loss ({check.scores_['with_generated']:.5g} "
                        f"with them vs {check.scores_['original']:.5g} without)"
                    )
            kept = [c for c in kept if c in original]
    importances: dict[str, float] = {}
    if fc.select and fc.max_features is not None and len(kept) > fc.max_features:
        t0 = time.perf_counter()
        mbs = ModelBasedSelector(fc.max_features, config.task, seed=config.seed).fit(X[kept], y)
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
    pd.read_parquet(generated["holdout"])[keep].to_parquet(paths["holdout"], index=False)
    definitions = out / "feature_definitions.json"
    save_feature_definitions(kept_features, definitions, logical_types)
    generated_names = json.loads(Path(generated["names"]).read_text()) if generated.get("names") else []
    report = {
        "generated": generated_names,
        "kept": kept,
        "dropped": dropped,
        "leaks": leaks,
        "generated_check": generated_check,
        "importances": importances,
        "seconds": timings,
        "fitted_on_rows": int(train.shape[0]),
    }
    _write_json(out / "feature_selection.json", report)
    log.info("selection kept %d of %d features (%.1f s)", len(kept), generated["n_generated"], timings["total"])
    return {
        "train": str(paths["train"]),
        "holdout": str(paths["holdout"]),
        "definitions": str(definitions),
        "n_generated": generated["n_generated"],
        "n_selected": len(kept),
        "report": str(out / "feature_selection.json"),
    }


# ------------------------------------------------------------ create_study
def create_study(
    config_path: str, study_name: str, airflow: dict[str, str], data: dict[str, Any], features: dict[str, Any]
) -> dict[str, Any]:
    """Create (or reopen) the Optuna study and the MLflow parent run; list the trial slots."""
    from mlflow.entities import RunTag

    from automl import tracking
    from automl.meta.knowledge import kb_tags, warm_start
    from automl.study import create_or_open, redact

    config = read_config(config_path)
    tracking.check_reachable(config)  # both ends answer before anything is created: no half-made run
    study = create_or_open(config, study_name)
    report = json.loads(Path(features["report"]).read_text()) if features.get("report") else None
    parent = tracking.start_parent_run(
        config,
        study_name,
        airflow,
        data.get("summary", {}),
        {"n_generated": features.get("n_generated"), "n_selected": features.get("n_selected"), "report": report},
    )
    c = tracking.client(config)
    meta = data.get("meta") or {}
    c.log_batch(parent, tags=[RunTag(k, v) for k, v in kb_tags(config, meta).items()])
    tracking.log_artifact(config, parent, Path(features["definitions"]), "features")
    seeded = warm_start(config, study, meta, exclude_run=parent)
    if seeded:
        sources = sorted({s["run_id"] for s in seeded})
        c.set_tag(parent, "automl.warm_start_sources", ",".join(sources))
        c.log_text(parent, json.dumps(seeded, indent=2, default=str), "meta/warm_start.json")
    log.info(
        "study %s in %s; MLflow parent run %s; %d warm-start trials",
        study_name,
        redact(config.storage_url),
        parent,
        len(seeded),
    )
    from automl.urls import mlflow_ui_base

    return {
        "study_name": study_name,
        "parent_run_id": parent,
        "experiment_id": tracking.experiment_id(config),
        "mlflow_ui": mlflow_ui_base(config.mlflow_uri),
        "config_path": config_path,
        "train": features["train"],
        "slots": list(range(config.n_slots)),
        "warm_start": len(seeded),
    }


# --------------------------------------------------------------- progress
def pruning_pass(
    config_path: str, study_name: str, stop_process: Callable[[FrozenTrial], list[str]] | None = None
) -> dict[str, Any]:
    """One pass of the central pruning manager (the sensor's poke): stale trials, time budget, the rule.

    ``stop_process`` enforces stop signals: a trial still running ``pruning.stop_grace_s`` after it
    was told to stop is ended PRUNED and ``stop_process(trial)`` stops its process (on Kubernetes:
    deletes its pod) and returns what it stopped. Without it, such trials are only reported.
    """
    from automl.pruning.control import enforce, force_prune, overdue_stops
    from automl.study import open_study, progress

    config = read_config(config_path)
    study = open_study(config, study_name)
    report = enforce(study, config)
    for number in report.stale_failed:
        log.warning(
            "trial %d: heartbeat stale for %d s; failed, its parameters retried once",
            number,
            config.pruning.stale_after_s,
        )
    for number, reason in report.stopped.items():
        log.info("trial %d told to stop: %s", number, reason)
    enforced: dict[str, list[str]] = {}
    grace = config.pruning.stop_grace_s
    for t in overdue_stops(study, grace):
        if stop_process is None:
            log.warning("trial %d still runs %d s after it was told to stop", t.number, grace)
        elif force_prune(study, t, f"ignored its stop signal for {grace} s"):
            stopped = stop_process(t)
            enforced[str(t.number)] = stopped
            log.warning("trial %d ignored its stop signal for %d s: ended PRUNED, stopped %s", t.number, grace, stopped)
    p = progress(study)
    return {
        **asdict(p),
        "line": p.line(),
        "finished": p.finished,
        "n_trials": config.budget.n_trials,
        "stale_failed": report.stale_failed,
        "stopped": {str(k): v for k, v in report.stopped.items()},
        "enforced": enforced,
        "budget_spent": report.budget_spent,
    }


# ------------------------------------------------------------ retrain_best
def retrain_best(config_path: str, study_name: str, parent_run_id: str, features: dict[str, Any]) -> dict[str, Any]:
    """Sync every trial to MLflow, then refit the best configuration on all training rows."""
    import joblib
    import pandas as pd

    from automl import tracking
    from automl.objective import fit_final
    from automl.study import open_study, progress

    config = read_config(config_path)
    study = open_study(config, study_name)
    synced = tracking.sync_trials(config, parent_run_id, study)
    p = progress(study)
    log.info("%s (%d trials newly synced to MLflow)", p.line(), synced)
    if p.complete == 0:
        raise RuntimeError(f"study {study_name} has no completed trial ({p.line()}); nothing to retrain")
    from automl.meta.knowledge import record_study

    record_study(config, parent_run_id, study)  # this study becomes warm-start material for later ones
    from automl.plots import write_study_plots

    for path in write_study_plots(study, run_dir(study_name) / "plots", config):
        tracking.log_artifact(config, parent_run_id, path, "plots")
    tracking.write_parent_note(config, parent_run_id, study)  # the trials table and the Airflow back-link
    extra_metrics: dict[str, float] = {}
    if config.is_multi_objective:
        best, extra_metrics = _pareto_report(config, study, parent_run_id, run_dir(study_name))
    else:
        best = study.best_trial
    train = pd.read_parquet(features["train"])
    target = config.dataset.target
    started = time.perf_counter()
    model = fit_final(config, best, train.drop(columns=[target]), train[target])
    seconds = time.perf_counter() - started
    model_path = run_dir(study_name) / "model.joblib"
    tmp = model_path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    tmp.replace(model_path)
    tracking.log_parent_results(
        config,
        parent_run_id,
        metrics={
            **extra_metrics,
            f"best_cv_{config.metric}": float(best.values[config.objective_names.index(config.metric)]),
            "trials_complete": p.complete,
            "trials_pruned": p.pruned,
            "trials_failed": p.failed,
            "retrain_seconds": seconds,
        },
        params={f"best.{k}": v for k, v in best.params.items()} | {"best_trial": best.number},
    )
    return {
        "model_path": str(model_path),
        "best_trial": best.number,
        "best_cv": best.values[config.objective_names.index(config.metric)],
        "best_params": best.params,
    }


def _pareto_report(config: StudyConfig, study: Any, parent_run_id: str, out: Path) -> tuple[Any, dict[str, float]]:
    """Multi-objective: log the feasible front (CSV and JSON) and its hypervolume; return the configured pick."""
    import csv

    from automl import tracking
    from automl.multiobjective.study import pareto_rows, pick, reference_point, study_hypervolume

    mo = config.multi_objective
    assert mo is not None
    trials = study.get_trials(deepcopy=False)
    reference = reference_point(config, trials)
    hv = study_hypervolume(config, trials, reference)
    chosen = pick(config, trials)
    rows = pareto_rows(config, trials)
    names = config.objective_names
    columns = ["trial", *names, *sorted({k for r in rows for k in r} - {"trial", "params", *names})]
    table = out / "pareto_front.csv"
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*columns, "params"])
        for r in rows:
            writer.writerow([r.get(c, "") for c in columns] + [json.dumps(r["params"], default=str)])
    tracking.log_artifact(config, parent_run_id, table, "pareto")
    summary = {
        "objectives": names,
        "directions": config.directions,
        "constraints": mo.constraints,
        "reference_point": reference,
        "hypervolume": hv,
        "pick_rule": mo.pick,
        "picked_trial": chosen.number,
        "front": rows,
    }
    tracking.log_json(config, parent_run_id, summary, "pareto/pareto_front.json")
    log.info(
        "Pareto front: %d feasible non-dominated trials %s, hypervolume %.6g (reference %s); retraining trial %d (%s)",
        len(rows),
        [r["trial"] for r in rows],
        hv,
        reference,
        chosen.number,
        mo.pick,
    )
    return chosen, {"pareto_hypervolume": hv, "pareto_front_size": float(len(rows))}


# -------------------------------------------------------- evaluate_holdout
def evaluate_holdout(
    config_path: str, parent_run_id: str, retrained: dict[str, Any], features: dict[str, Any]
) -> dict[str, Any]:
    """Score the retrained model once on the untouched holdout."""
    import joblib
    import pandas as pd

    from automl import tracking
    from automl.families.space import prepare_frame
    from automl.metrics.scoring import score

    config = read_config(config_path)
    model = joblib.load(retrained["model_path"])
    holdout = pd.read_parquet(features["holdout"])
    target = config.dataset.target
    X_holdout = prepare_frame(holdout.drop(columns=[target]))
    value = score(config.metric, model, X_holdout, holdout[target])
    metrics: dict[str, float] = {f"holdout_{config.metric}": value, "holdout_rows": len(holdout)}
    extra: dict[str, Any] = {}
    if config.multi_objective:  # the retrained model's own costs, and whether it meets the constraints
        from automl.measure import latency_batch, model_costs
        from automl.multiobjective.study import constraint_values

        mo = config.multi_objective
        costs = model_costs(model, latency_batch(X_holdout, mo.latency_batch_size, config.seed), mo.latency_repeats)
        feasible = all(c <= 0 for c in constraint_values(config, {**costs, config.metric: value}))
        metrics.update({f"holdout_{k}": v for k, v in costs.items()} | {"holdout_feasible": float(feasible)})
        extra = {"costs": costs, "feasible": feasible}
        log.info("retrained model: %s; constraints %s: %s", costs, mo.constraints, "met" if feasible else "NOT met")
    tracking.log_parent_results(config, parent_run_id, metrics)
    log.info("holdout %s = %.5f (best CV %.5f)", config.metric, value, retrained["best_cv"])
    return {
        "metric": config.metric,
        "holdout_score": value,
        "best_cv": retrained["best_cv"],
        "holdout_rows": len(holdout),
        **extra,
    }


# ---------------------------------------------------------- register_model
def register_model(
    config_path: str, parent_run_id: str, retrained: dict[str, Any], features: dict[str, Any], holdout: dict[str, Any]
) -> dict[str, Any]:
    """Log the retrained model with its feature definitions and register it (once per DAG run)."""
    import joblib
    import mlflow

    from automl import tracking

    config = read_config(config_path)
    c = tracking.client(config)
    name = config.registered_model_name
    existing = [v for v in c.search_model_versions(f"name = '{name}'") if v.run_id == parent_run_id]
    if existing:
        version = existing[0].version
        log.info("model %s version %s already registered by this run", name, version)
    else:
        import skops.io

        model = joblib.load(retrained["model_path"])
        # skops format (MLflow's safe default); the types are those of the model we just built
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        with tracking.global_uri(config), mlflow.start_run(run_id=parent_run_id):
            mlflow.log_artifact(features["definitions"], artifact_path="model_features")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                pip_requirements=PIP_REQUIREMENTS,
                registered_model_name=name,
                skops_trusted_types=trusted,
            )
        version = info.registered_model_version
        c.set_model_version_tag(name, str(version), f"holdout_{config.metric}", str(holdout["holdout_score"]))
        c.set_model_version_tag(name, str(version), "feature_definitions", "model_features/feature_definitions.json")
        c.set_model_version_tag(name, str(version), "best_trial", str(retrained["best_trial"]))
    c.set_tag(parent_run_id, "automl.registered_model", f"{name}/{version}")
    c.set_terminated(parent_run_id, "FINISHED")
    return {"name": name, "version": str(version), "parent_run_id": parent_run_id}
