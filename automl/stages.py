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
from pathlib import Path
from typing import Any

from automl.config import StudyConfig, config_from_json
from automl.paths import run_dir, safe_name

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
    """Validate the dataset, split off the untouched holdout, write Parquet."""
    import pandas as pd

    from automl.data import read_dataset, split_holdout, summarize, validate
    from automl.meta.features import meta_features

    frame = validate(read_dataset(config.dataset.source), config)  # fails before anything is written
    out = run_dir(study_name)
    config_path = out / "config.json"
    _write_json(config_path, config.model_dump(mode="json"))
    split, summary = split_holdout(frame, config, out), summarize(frame, config)
    started = time.perf_counter()
    meta = meta_features(pd.read_parquet(split.train_path), config.dataset.target, config.task, config.seed)
    log.info("meta-features (training rows only, %.1f s): %s", time.perf_counter() - started, meta)
    _write_json(out / "dataset_summary.json", {"summary": summary, "meta": meta})
    log.info(
        "dataset %s: %d train rows, %d holdout rows, %d columns",
        config.dataset.source,
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
def generate_features(config_path: str, study_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Deep Feature Synthesis: definitions learned on the training table only."""
    import pandas as pd

    from feature_engineering.dfs import DeepFeatureSynthesis

    config = read_config(config_path)
    out = run_dir(study_name)
    target = config.dataset.target
    train = pd.read_parquet(data["train"])
    holdout = pd.read_parquet(data["holdout"])
    fc = config.features
    started = time.perf_counter()
    dfs = DeepFeatureSynthesis(
        trans_primitives=fc.trans_primitives if fc.enabled else [],
        max_depth=fc.max_depth,
        max_features=fc.max_generated,
    ).fit(train.drop(columns=[target]))
    paths = {}
    for part, frame in (("train", train), ("holdout", holdout)):
        fm = dfs.transform(frame.drop(columns=[target]))
        fm[target] = frame[target].to_numpy()
        paths[part] = out / f"{part}_generated.parquet"
        fm.to_parquet(paths[part], index=False)
    definitions = dfs.save(out / "features_generated.json")
    seconds = time.perf_counter() - started
    log.info("DFS generated %d features in %.1f s", len(dfs.features_), seconds)
    return {
        "train": str(paths["train"]),
        "holdout": str(paths["holdout"]),
        "definitions": str(definitions),
        "n_generated": len(dfs.features_),
        "seconds": seconds,
    }


# --------------------------------------------------------- select_features
def select_features(config_path: str, study_name: str, generated: dict[str, Any]) -> dict[str, Any]:
    """Drop null, constant, low-information and correlated features, fitted on training rows only."""
    import pandas as pd

    from feature_engineering.dfs import load_feature_definitions, save_feature_definitions
    from feature_engineering.selection import FeatureSelector

    config = read_config(config_path)
    out = run_dir(study_name)
    target = config.dataset.target
    features, logical_types = load_feature_definitions(Path(generated["definitions"]))
    train = pd.read_parquet(generated["train"])
    started = time.perf_counter()
    selector = FeatureSelector(
        null_threshold=config.features.null_threshold, corr_threshold=config.features.corr_threshold
    ).fit(train.drop(columns=[target]), features)
    keep = selector.selected_columns_ + [target]
    paths = {"train": out / "train_features.parquet", "holdout": out / "holdout_features.parquet"}
    train[keep].to_parquet(paths["train"], index=False)
    pd.read_parquet(generated["holdout"])[keep].to_parquet(paths["holdout"], index=False)
    definitions = out / "feature_definitions.json"
    save_feature_definitions(selector.selected_features_, definitions, logical_types)
    report = {
        "kept": selector.selected_columns_,
        "dropped": selector.dropped_,
        "seconds": time.perf_counter() - started,
        "fitted_on_rows": int(train.shape[0]),
    }
    _write_json(out / "feature_selection.json", report)
    log.info("selection kept %d of %d features", len(selector.selected_columns_), generated["n_generated"])
    return {
        "train": str(paths["train"]),
        "holdout": str(paths["holdout"]),
        "definitions": str(definitions),
        "n_generated": generated["n_generated"],
        "n_selected": len(selector.selected_columns_),
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
    return {
        "study_name": study_name,
        "parent_run_id": parent,
        "config_path": config_path,
        "train": features["train"],
        "slots": list(range(config.n_slots)),
        "warm_start": len(seeded),
    }


# --------------------------------------------------------------- progress
def study_progress(config_path: str, study_name: str) -> dict[str, Any]:
    from automl.study import open_study, progress

    config = read_config(config_path)
    p = progress(open_study(config, study_name))
    return {
        "line": p.line(),
        "finished": p.finished,
        "running": p.running,
        "complete": p.complete,
        "pruned": p.pruned,
        "failed": p.failed,
        "n_trials": config.budget.n_trials,
        "best_value": p.best_value,
    }


def pruning_pass(config_path: str, study_name: str) -> dict[str, Any]:
    """One pass of the central pruning manager (the sensor's poke): stale trials, time budget, the rule."""
    from automl.pruning.control import enforce
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
    p = progress(study)
    return {
        "line": p.line(),
        "finished": p.finished,
        "running": p.running,
        "complete": p.complete,
        "pruned": p.pruned,
        "failed": p.failed,
        "n_trials": config.budget.n_trials,
        "best_value": p.best_value,
        "stale_failed": report.stale_failed,
        "stopped": {str(k): v for k, v in report.stopped.items()},
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

    for path in write_study_plots(study, run_dir(study_name) / "plots"):
        tracking.log_artifact(config, parent_run_id, path, "plots")
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
            f"best_cv_{config.metric}": float(best.value or 0.0),
            "trials_complete": p.complete,
            "trials_pruned": p.pruned,
            "trials_failed": p.failed,
            "retrain_seconds": seconds,
        },
        params={f"best.{k}": v for k, v in best.params.items()} | {"best_trial": best.number},
    )
    return {"model_path": str(model_path), "best_trial": best.number, "best_cv": best.value, "best_params": best.params}


# -------------------------------------------------------- evaluate_holdout
def evaluate_holdout(
    config_path: str, parent_run_id: str, retrained: dict[str, Any], features: dict[str, Any]
) -> dict[str, Any]:
    """Score the retrained model once on the untouched holdout."""
    import joblib
    import pandas as pd

    from automl import tracking
    from automl.metrics import score
    from automl.spaces import prepare_frame

    config = read_config(config_path)
    model = joblib.load(retrained["model_path"])
    holdout = pd.read_parquet(features["holdout"])
    target = config.dataset.target
    value = score(config.metric, model, prepare_frame(holdout.drop(columns=[target])), holdout[target])
    tracking.log_parent_results(
        config, parent_run_id, {f"holdout_{config.metric}": value, "holdout_rows": len(holdout)}
    )
    log.info("holdout %s = %.5f (best CV %.5f)", config.metric, value, retrained["best_cv"])
    return {
        "metric": config.metric,
        "holdout_score": value,
        "best_cv": retrained["best_cv"],
        "holdout_rows": len(holdout),
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
