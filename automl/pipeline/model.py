"""Stages ``retrain_best``, ``evaluate_holdout`` and ``register_model``: from the study to a registered model."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import mlflow
import optuna
import pandas as pd

from automl import tracking
from automl.config import StudyConfig
from automl.families.space import prepare_frame
from automl.measure import latency_batch, model_costs
from automl.meta.knowledge import record_study
from automl.metrics.scoring import score
from automl.multiobjective.study import (
    constraint_values,
    pareto_rows,
    pick,
    reference_point,
    study_hypervolume,
)
from automl.objective import fit_final
from automl.pipeline.artifacts import (
    HoldoutResult,
    Registered,
    Retrained,
    RunContext,
    SearchChecked,
    SelectedFeatures,
    StudyHandle,
)
from automl.plots import write_study_plots
from automl.study import STOP_REASON, open_study, progress

log = logging.getLogger("automl.pipeline")

PIP_REQUIREMENTS = ["scikit-learn==1.9.1", "lightgbm==4.7.0", "pandas<3", "numpy<2.5"]


def retrain_best(ctx: RunContext, study: StudyHandle, features: SelectedFeatures, checked: SearchChecked) -> Retrained:
    """Sync every trial to MLflow, then refit the best configuration on all training rows (``checked``: the
    watcher passed the search)."""
    config, parent = ctx.config, study.parent_run_id
    s = open_study(config, ctx.study_name)
    synced = tracking.sync_trials(config, parent, s)
    p = progress(s)
    log.info("%s (%d trials newly synced to MLflow)", p.line(), synced)
    if p.complete == 0:
        raise RuntimeError(f"study {ctx.study_name} has no completed trial ({p.line()}); nothing to retrain")
    record_study(config, parent, s)  # this study becomes warm-start material for later ones
    for path in write_study_plots(s, ctx.out / "plots", config):
        tracking.log_artifact(config, parent, path, "plots")
    tracking.write_parent_note(config, parent, s)  # the trials table and the Airflow back-link
    if s.user_attrs.get(STOP_REASON):  # the study stopped itself early (budget.patience)
        tracking.client(config).set_tag(parent, "automl.stop_reason", s.user_attrs[STOP_REASON])
    extra_metrics: dict[str, float] = {}
    if config.is_multi_objective:
        best, extra_metrics = _pareto_report(config, s, parent, ctx.out)
    else:
        best = s.best_trial
    train = pd.read_parquet(features.train)
    target = config.dataset.target
    started = time.perf_counter()
    model = fit_final(config, best, train.drop(columns=[target]), train[target])
    seconds = time.perf_counter() - started
    model_path = ctx.out / "model.joblib"
    tmp = model_path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    tmp.replace(model_path)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    best_cv = float(best.values[config.objective_names.index(config.metric)])
    tracking.log_parent_results(
        config,
        parent,
        metrics={
            **extra_metrics,
            f"best_cv_{config.metric}": best_cv,
            "trials_complete": p.complete,
            "trials_pruned": p.pruned,
            "trials_failed": p.failed,
            "retrain_seconds": seconds,
        },
        params={f"best.{k}": v for k, v in best.params.items()} | {"best_trial": best.number},
    )
    return Retrained(
        model_path=str(model_path),
        best_trial=best.number,
        best_cv=best_cv,
        best_params=best.params,
        model_sha256=digest,
    )


class ModelTampered(RuntimeError):
    """The model file is not the one ``retrain_best`` wrote."""


def load_retrained(retrained: Retrained) -> Any:
    """The model ``retrain_best`` wrote, unpickled only if its bytes are exactly those (the hash travels in
    XCom, which no trial pod can write): a file changed on the shared volume is refused, never loaded."""
    data = Path(retrained.model_path).read_bytes()
    if not retrained.model_sha256 or hashlib.sha256(data).hexdigest() != retrained.model_sha256:
        raise ModelTampered(
            f"{retrained.model_path} is not the model retrain_best wrote (its SHA-256 differs); refusing to load it"
        )
    return joblib.load(io.BytesIO(data))


def _pareto_report(
    config: StudyConfig, study: optuna.Study, parent_run_id: str, out: Path
) -> tuple[Any, dict[str, float]]:
    """Multi-objective: log the feasible front (CSV and JSON) and its hypervolume; return the configured pick."""
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


def evaluate_holdout(
    ctx: RunContext, study: StudyHandle, retrained: Retrained, features: SelectedFeatures
) -> HoldoutResult:
    """Score the retrained model once on the untouched holdout."""
    config = ctx.config
    model = load_retrained(retrained)
    holdout = pd.read_parquet(features.holdout)
    target = config.dataset.target
    X_holdout = prepare_frame(holdout.drop(columns=[target]))
    value = score(config.metric, model, X_holdout, holdout[target])
    metrics: dict[str, float] = {f"holdout_{config.metric}": value, "holdout_rows": len(holdout)}
    costs: dict[str, float] | None = None
    feasible: bool | None = None
    if config.multi_objective:  # the retrained model's own costs, and whether it meets the constraints
        mo = config.multi_objective
        costs = model_costs(model, latency_batch(X_holdout, mo.latency_batch_size, config.seed), mo.latency_repeats)
        feasible = all(c <= 0 for c in constraint_values(config, {**costs, config.metric: value}))
        metrics.update({f"holdout_{k}": v for k, v in costs.items()} | {"holdout_feasible": float(feasible)})
        log.info("retrained model: %s; constraints %s: %s", costs, mo.constraints, "met" if feasible else "NOT met")
    tracking.log_parent_results(config, study.parent_run_id, metrics)
    log.info("holdout %s = %.5f (best CV %.5f)", config.metric, value, retrained.best_cv)
    return HoldoutResult(
        metric=config.metric,
        holdout_score=value,
        best_cv=retrained.best_cv,
        holdout_rows=len(holdout),
        costs=costs,
        feasible=feasible,
    )


@contextmanager
def _no_airflow_alias_warnings() -> Iterator[None]:
    """Silence Airflow's deprecated-alias warnings while skops serializes the model.

    skops looks up the module of every SciPy ufunc by reading that name on every loaded module (when
    ``skops.io`` is imported and when it serializes); inside an Airflow task that touches Airflow's
    deprecated module aliases, each raising a warning (about 1,100 lines per model). They are about
    Airflow's import paths, not about the model: exactly those are ignored here, nothing else. Import
    skops (and ``mlflow.sklearn``, which imports it) inside this context.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"The `airflow\.[^`]*` (attribute )?is deprecated", category=FutureWarning
        )
        yield


OWNER_TAG = "automl.study_config"


class ModelOwnedElsewhere(RuntimeError):
    """The registered model belongs to another study config (another team's model)."""


def _check_model_owner(c: Any, name: str, config_name: str) -> None:
    """A registered model takes versions from the study config that made it, and from no other.

    The model is created here, tagged with its owner; a model without the tag (registered before
    owners were recorded) is claimed by the first config that registers into it.
    """
    try:
        model = c.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        try:
            c.create_registered_model(name, tags={OWNER_TAG: config_name})
            return
        except mlflow.exceptions.MlflowException:
            model = c.get_registered_model(name)  # created concurrently
    owner = (model.tags or {}).get(OWNER_TAG)
    if owner is None:
        c.set_registered_model_tag(name, OWNER_TAG, config_name)
    elif owner != config_name:
        raise ModelOwnedElsewhere(
            f"registered model {name!r} belongs to study config {owner!r}, not {config_name!r}: "
            "choose another registry.model_name"
        )


def register_model(
    ctx: RunContext, study: StudyHandle, retrained: Retrained, features: SelectedFeatures, holdout: HoldoutResult
) -> Registered:
    """Log the retrained model with its feature definitions and register it (once per run)."""
    config, parent = ctx.config, study.parent_run_id
    c = tracking.client(config)
    name = config.registered_model_name
    _check_model_owner(c, name, config.name)
    existing = [v for v in c.search_model_versions(f"name = '{name}'") if v.run_id == parent]
    if existing:
        version = existing[0].version
        log.info("model %s version %s already registered by this run", name, version)
    else:
        model = load_retrained(retrained)
        with _no_airflow_alias_warnings(), tracking.global_uri(config), mlflow.start_run(run_id=parent):
            import mlflow.sklearn as mlflow_sklearn  # heavy, used here only; imports skops (scans modules)
            import skops.io

            # skops format (MLflow's safe default); the types to trust are those of the model we just built
            trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
            mlflow.log_artifact(features.definitions, artifact_path="model_features")
            info = mlflow_sklearn.log_model(
                model,
                name="model",
                pip_requirements=PIP_REQUIREMENTS,
                registered_model_name=name,
                skops_trusted_types=trusted,
            )
        version = info.registered_model_version
        c.set_model_version_tag(name, str(version), f"holdout_{config.metric}", str(holdout.holdout_score))
        c.set_model_version_tag(name, str(version), "feature_definitions", "model_features/feature_definitions.json")
        c.set_model_version_tag(name, str(version), "best_trial", str(retrained.best_trial))
    c.set_tag(parent, "automl.registered_model", f"{name}/{version}")
    c.set_terminated(parent, "FINISHED")
    return Registered(name=name, version=str(version), parent_run_id=parent)
