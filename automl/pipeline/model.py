"""Stages ``retrain_best``, ``evaluate_holdout`` and ``register_model``: from the study to a registered model."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import mlflow
import optuna
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas

from automl import tracking
from automl.config import StudyConfig
from automl.ensemble import build_ensemble
from automl.families.space import prepare_frame
from automl.measure import latency_batch, model_costs
from automl.meta.knowledge import record_study
from automl.metrics.scoring import score
from automl.model import AutoMLModel, champion
from automl.model.build import log_pyfunc, write_model_files
from automl.model.importance import raw_importance, write_importance
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
    LoadedData,
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


def retrain_best(ctx: RunContext, study: StudyHandle, features: SelectedFeatures, checked: SearchChecked) -> Retrained:
    """Sync every trial to MLflow, then refit the best configuration on all training rows (``checked``: the
    watcher passed the search); with ``ensemble.size`` > 1, the ensemble selected on the trials' out-of-fold
    predictions (automl.ensemble), one estimator saved where the single model would be."""
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
    model, ens_params = None, {}
    if config.ensemble.size > 1 and not config.is_multi_objective:
        built = build_ensemble(
            config, s, features.train, train.drop(columns=[target]), train[target], _seconds_left(config, s)
        )
        if built is not None:
            model = built.model
            ens_params = {"ensemble.members": ",".join(f"{n}:{w:.4g}" for n, w in built.members.items())}
            extra_metrics |= {
                f"ensemble_oof_{config.metric}": built.oof_score,
                f"best_single_oof_{config.metric}": built.best_single_oof,
                "ensemble_members": float(len(built.members)),
            }
            tracking.log_json(config, parent, built.summary(config.metric), "ensemble/ensemble.json")
    if model is None:
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
        params={f"best.{k}": v for k, v in best.params.items()} | {"best_trial": best.number} | ens_params,
    )
    return Retrained(
        model_path=str(model_path),
        best_trial=best.number,
        best_cv=best_cv,
        best_params=best.params,
        model_sha256=digest,
    )


def _seconds_left(config: StudyConfig, study: optuna.Study) -> float | None:
    """Under ``budget.total_s``: the seconds left on the run's end-to-end clock (started in load_data), which
    the ensemble's refits must fit in; None without an end-to-end budget."""
    started = study.user_attrs.get("clock_started_at")
    if not config.budget.total_s or started is None:
        return None
    return float(started) + config.budget.total_s - time.time()


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
    ctx: RunContext,
    data: LoadedData,
    study: StudyHandle,
    retrained: Retrained,
    features: SelectedFeatures,
    holdout: HoldoutResult,
) -> Registered:
    """Log the self-contained pyfunc (raw rows in) and register it once per run; then champion/challenger."""
    config, parent = ctx.config, study.parent_run_id
    c = tracking.client(config)
    name = config.registered_model_name
    _check_model_owner(c, name, config.name)
    estimator = load_retrained(retrained)  # refused unless it is exactly what retrain_best wrote
    raw_train, raw_holdout = pd.read_parquet(data.train), pd.read_parquet(data.holdout)
    files = write_model_files(ctx.out / "pyfunc", config, raw_train, features.train, features.definitions, estimator)
    existing = [v for v in c.search_model_versions(f"name = '{name}'") if v.run_id == parent]
    if existing:
        version = str(existing[0].version)
        log.info("model %s version %s already registered by this run", name, version)
    else:
        with tracking.global_uri(config), mlflow.start_run(run_id=parent), warnings.catch_warnings():
            # MLflow's hint about integer columns (the dataset's schema; the model's signature handles them)
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
            warnings.filterwarnings(
                "ignore", message="The specified dataset source can be interpreted in multiple ways"
            )
            target = config.dataset.target
            # lineage: the split rows as this run wrote them (the Parquet files in the run's folder)
            for frame, path, context in ((raw_train, data.train, "training"), (raw_holdout, data.holdout, "holdout")):
                dataset = from_pandas(frame, source=path, targets=target, name=f"{config.dataset.label} ({context})")
                mlflow.log_input(dataset, context=context)
            info = log_pyfunc(config, files, raw_train, name, ctx.out / "pyfunc")
        version = str(info.registered_model_version)
        c.set_model_version_tag(name, version, "best_trial", str(retrained.best_trial))
        _log_importance(ctx, parent, files, raw_holdout)
    decision = champion.decide(config, name, version, holdout.holdout_score, raw_holdout)
    champion.apply(config, name, decision, parent)
    c.set_tag(parent, "automl.registered_model", f"{name}/{version}")
    c.set_terminated(parent, "FINISHED")
    return Registered(name=name, version=version, parent_run_id=parent, champion=decision.promoted)


def _log_importance(ctx: RunContext, parent: str, files: dict[str, str], raw_holdout: pd.DataFrame) -> None:
    """Permutation importance of the final model on the holdout's raw columns: a CSV and a plot on the parent run."""
    config = ctx.config
    started = time.perf_counter()
    table = raw_importance(config, AutoMLModel().load(files), raw_holdout)
    for path in write_importance(table, ctx.out / "importance", config.metric):
        tracking.log_artifact(config, parent, path, "importance")
    log.info("permutation importance of %d raw columns (%.1f s)", len(table), time.perf_counter() - started)
