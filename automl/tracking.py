"""MLflow tracking: experiment per study config, parent run per DAG run, child run per trial.

Everything here is idempotent: a retried task finds the parent run by its
Airflow run id, and a trial already logged as a child run is not logged twice.
Trial results live first in the study storage, so an MLflow outage only
delays logging.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import optuna
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from automl.config import StudyConfig
from automl.paths import state_dir
from automl.pruning.control import mo_curve_of
from automl.redact import redact, redact_text
from automl.study import progress

TAG_RUN_ID = "airflow.run_id"
TAG_DAG_RUN_URL = "airflow.dag_run_url"
TAG_NOTE = "mlflow.note.content"  # the run's description in the MLflow UI (markdown)
TAG_STUDY = "optuna.study_name"
TAG_TRIAL = "optuna.trial_number"
_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}


def client(config: StudyConfig) -> MlflowClient:
    """A client for the config's tracking URI (the process-wide MLflow URI is left alone)."""
    return MlflowClient(config.mlflow_uri)


@contextmanager
def global_uri(config: StudyConfig) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.start_run``, ``log_model``) at the config's store, then restore."""
    with uri_context(config.mlflow_uri):
        yield


@contextmanager
def uri_context(uri: str | None) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` (None: leave it as it is), then restore.

    ``mlflow.set_tracking_uri`` also sets ``MLFLOW_TRACKING_URI`` in the environment, which would
    leak into every later config of this process; both are restored on exit.
    """
    if uri is None:
        yield
        return
    before_env = os.environ.get("MLFLOW_TRACKING_URI")
    before = mlflow.get_tracking_uri() if before_env else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if before_env is None:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # back to MLflow's default resolution (and no env variable)
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            mlflow.set_tracking_uri(before or before_env)


@contextmanager
def fail_fast(timeout_s: int = 10) -> Iterator[None]:
    """For best-effort logging: one quick retry instead of MLflow's minutes of backoff when the
    tracking server is down (settings the user made in the environment are kept)."""
    settings = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
    }
    added = [k for k in settings if k not in os.environ]
    for k in added:
        os.environ[k] = settings[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class TrackingError(RuntimeError):
    """The MLflow tracking server cannot be reached."""


def check_reachable(config: StudyConfig) -> None:
    """Fail fast, before anything is created, when the tracking URI does not answer (a read-only call)."""
    try:
        with fail_fast(timeout_s=10):
            client(config).search_experiments(max_results=1)
    except Exception as err:
        msg = redact_text(str(err).splitlines()[0][:300]) if str(err) else type(err).__name__  # MLflow quotes the URI
        raise TrackingError(f"cannot reach the MLflow tracking server {redact(config.mlflow_uri)}: {msg}") from None


def experiment_id(config: StudyConfig) -> str:
    c = client(config)
    exp = c.get_experiment_by_name(config.experiment_name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            c.restore_experiment(exp.experiment_id)
        return str(exp.experiment_id)
    artifact_location = None
    if config.mlflow_uri.startswith(("sqlite:", "file:")) or "://" not in config.mlflow_uri:
        # local store: keep artifacts in the state folder, not in ./mlruns of whatever cwd
        artifact_location = (state_dir() / "mlartifacts" / config.name).as_uri()
    try:
        return str(
            c.create_experiment(
                config.experiment_name, artifact_location=artifact_location, tags={"automl.study_config": config.name}
            )
        )
    except mlflow.exceptions.MlflowException:
        exp = c.get_experiment_by_name(config.experiment_name)  # created concurrently
        if exp is None:
            raise
        return str(exp.experiment_id)


def find_parent_run(config: StudyConfig, study_name: str) -> str | None:
    c = client(config)
    runs = c.search_runs(
        [experiment_id(config)],
        filter_string=f"tags.`{TAG_STUDY}` = '{study_name}' and tags.`automl.role` = 'parent'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def start_parent_run(
    config: StudyConfig,
    study_name: str,
    airflow: dict[str, str],
    dataset_summary: dict[str, Any],
    features: dict[str, Any],
) -> str:
    """Create the parent run for this DAG run, or return the one a previous attempt created."""
    existing = find_parent_run(config, study_name)
    if existing:
        return existing
    c = client(config)
    tags = {
        TAG_STUDY: study_name,
        "automl.role": "parent",
        "automl.study_config": config.name,
        "mlflow.runName": study_name,
        **{f"airflow.{k}": str(v) for k, v in airflow.items()},
    }
    if airflow.get("dag_run_url"):
        tags[TAG_NOTE] = _airflow_line(airflow)
    run = c.create_run(experiment_id(config), tags=tags, run_name=study_name)
    rid = run.info.run_id
    params = {
        "task": config.task,
        "metric": config.metric,
        "direction": config.metric_direction,
        "model_space": ",".join(config.model_space),
        "sampler": config.sampler,
        "pruning": config.pruning.rule,
        "n_trials": config.budget.n_trials,
        "parallelism": config.budget.parallelism,
        "trials_per_slot": config.budget.trials_per_slot,
        "cv_folds": config.budget.cv_folds,
        "timeout_s": config.budget.timeout_s,
        "dataset": config.dataset.label,
        "target": config.dataset.target,
        "n_features_generated": features.get("n_generated"),
        "n_features_selected": features.get("n_selected"),
    }
    if config.multi_objective:
        params |= {
            "objectives": ",".join(config.objective_names),
            "constraints": "; ".join(config.multi_objective.constraints) or "none",
            "pareto_pick": config.multi_objective.pick,
        }
    c.log_batch(
        rid,
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(f"dataset.{k}", str(v)) for k, v in dataset_summary.items()],
    )
    c.log_dict(rid, config.model_dump(mode="json"), "study_config.json")
    if features.get("report"):
        c.log_dict(rid, features["report"], "features/selection.json")
    return rid


def _airflow_line(airflow: dict[str, str]) -> str:
    return f"Airflow DAG run: [{airflow.get('dag_id', 'DAG')} / {airflow.get('run_id', '')}]({airflow['dag_run_url']})"


def write_parent_note(config: StudyConfig, parent_run_id: str, study: optuna.Study, top: int = 10) -> str:
    """The parent run's description: the back-link to the Airflow DAG run, the budget and the trials."""

    c = client(config)
    tags = c.get_run(parent_run_id).data.tags
    direction = "higher" if config.metric_direction == "maximize" else "lower"
    b = config.budget
    lines = []
    if tags.get(TAG_DAG_RUN_URL):
        lines += [
            _airflow_line({k.removeprefix("airflow."): v for k, v in tags.items() if k.startswith("airflow.")}),
            "",
        ]
    lines += [
        f"**Study** `{study.study_name}`: {b.n_trials} trials (n_trials), {b.trials_per_slot} per slot, "
        f"{b.parallelism} at once, sampler `{config.sampler}`, pruning `{config.pruning.rule}`.",
        "",
        f"**{progress(study).line()}**",
        "",
        f"| trial | state | cv {config.metric} ({direction} is better) | model | child run |",
        "| ---: | --- | ---: | --- | --- |",
    ]
    runs = _child_runs(c, experiment_id(config), parent_run_id)
    finished = [t for t in study.get_trials(deepcopy=False, states=tuple(_STATUS))]
    sign = -1.0 if config.metric_direction == "maximize" else 1.0
    i = config.objective_names.index(config.metric)  # multi-objective: the metric's entry

    def metric(t: optuna.trial.FrozenTrial) -> float | None:
        return t.values[i] if t.values is not None else None

    finished.sort(key=lambda t: (t.state != TrialState.COMPLETE, sign * (metric(t) or 0.0), t.number))
    for t in finished[:top]:
        value = f"{metric(t):.5f}" if metric(t) is not None else "-"
        run = runs.get(t.number)
        link = f"[trial-{t.number}](#/experiments/{run.info.experiment_id}/runs/{run.info.run_id})" if run else "-"
        lines.append(f"| {t.number} | {t.state.name.lower()} | {value} | {t.params.get('model', '-')} | {link} |")
    if len(finished) > top:
        lines.append(f"\n({len(finished) - top} more trials: see the child runs)")
    note = "\n".join(lines)
    c.set_tag(parent_run_id, TAG_NOTE, note)
    return note


def slot_runs(config: StudyConfig, parent_run_id: str, slot: int) -> dict[int, str]:
    """The child runs of one trial slot's trials: trial number -> MLflow run id."""
    c = client(config)
    runs = c.search_runs(
        [experiment_id(config)],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.`automl.slot_key` LIKE '{int(slot)}:%'",
        max_results=1000,
    )
    return {int(r.data.tags[TAG_TRIAL]): r.info.run_id for r in runs if TAG_TRIAL in r.data.tags}


def _child_runs(c: MlflowClient, exp_id: str, parent_run_id: str, numbers: list[int] | None = None) -> dict[int, Any]:
    """The parent's child runs by trial number: all of them, or (``numbers``) only those trials'.

    A worker logs a few trials at a time: asking for them by their tag keeps that check cheap,
    where listing every child run grew with the study.
    """
    parent = f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    runs: list[Any] = []
    if numbers is None:
        runs += c.search_runs([exp_id], filter_string=parent, max_results=50000)
    else:
        for n in sorted(set(numbers)):
            runs += c.search_runs(
                [exp_id], filter_string=f"{parent} and tags.`{TAG_TRIAL}` = '{int(n)}'", max_results=100
            )
    return {int(r.data.tags[TAG_TRIAL]): r for r in runs if TAG_TRIAL in r.data.tags}


def sync_trials(config: StudyConfig, parent_run_id: str, study: optuna.Study, numbers: list[int] | None = None) -> int:
    """Log finished trials as child runs of the parent; returns how many were newly logged."""
    trials = study.get_trials(deepcopy=False, states=tuple(_STATUS))
    if numbers is not None:
        wanted = set(numbers)
        trials = [t for t in trials if t.number in wanted]
    return log_trials(config, parent_run_id, study.study_name, trials)


def log_trials(
    config: StudyConfig,
    parent_run_id: str,
    study_name: str,
    trials: list[optuna.trial.FrozenTrial],
    c: MlflowClient | None = None,
    exp_id: str | None = None,
    check_all: bool | None = None,
) -> int:
    """Log these finished trials as child runs unless they are logged already; returns how many were new.

    Idempotent: a trial with a finished child run is skipped; a RUNNING child run (an attempt
    that died while writing it) is deleted and written again. ``c`` and ``exp_id`` let a caller
    that logs often reuse its client. The existing child runs are looked up per trial for a few
    trials and listed all at once for many (``check_all`` overrides).
    """
    trials = [t for t in trials if t.state in _STATUS]
    if not trials:
        return 0
    c = c or client(config)
    exp_id = exp_id or experiment_id(config)
    if check_all is None:
        check_all = len(trials) > 20
    logged = _child_runs(c, exp_id, parent_run_id, None if check_all else [t.number for t in trials])
    new = 0
    for t in trials:
        prior = logged.get(t.number)
        if prior is not None:
            if prior.info.status != "RUNNING":
                continue
            c.delete_run(prior.info.run_id)  # half-written by an attempt that died: write again
        _log_trial(c, exp_id, parent_run_id, study_name, config, t)
        new += 1
    return new


def _log_trial(
    c: MlflowClient, exp_id: str, parent_run_id: str, study_name: str, config: StudyConfig, t: optuna.trial.FrozenTrial
) -> None:
    start_ms = int(t.datetime_start.timestamp() * 1000) if t.datetime_start else int(time.time() * 1000)
    end_ms = int(t.datetime_complete.timestamp() * 1000) if t.datetime_complete else start_ms
    run = c.create_run(
        exp_id,
        start_time=start_ms,
        run_name=f"trial-{t.number}",
        tags={
            "mlflow.parentRunId": parent_run_id,
            TAG_TRIAL: str(t.number),
            TAG_STUDY: study_name,
            "automl.role": "trial",
            "optuna.state": t.state.name,
            "automl.slot_key": str(t.user_attrs.get("slot_key", "")),
        },
    )
    rid = run.info.run_id
    running = dict(t.intermediate_values)
    if config.is_multi_objective:  # vectors in system attributes; the metric is one entry
        i = config.objective_names.index(config.metric)
        running = {step: v[i] for step, v in mo_curve_of(t).values.items()}
    metrics = [Metric(f"cv_{config.metric}_running", v, end_ms, step) for step, v in sorted(running.items())]
    if t.values is not None:
        for name, v in zip(config.objective_names, t.values, strict=True):
            metrics.append(Metric(f"cv_{name}" if name == config.metric else name, v, end_ms, 0))
    for name, v in t.user_attrs.get("measures", {}).items():
        if name != config.metric and name not in config.objective_names:
            metrics.append(Metric(name, float(v), end_ms, 0))
    if "constraints" in t.system_attrs:
        feasible = all(c <= 0 for c in t.system_attrs["constraints"])
        metrics.append(Metric("feasible", float(feasible), end_ms, 0))
    metrics.append(Metric("duration_s", (end_ms - start_ms) / 1000.0, end_ms, 0))
    tags = []
    if "pruned_at_step" in t.user_attrs:
        tags.append(RunTag("automl.pruned_at_step", str(t.user_attrs["pruned_at_step"])))
    for key in ("automl:stop", "automl:failed_reason"):
        if key in t.system_attrs:
            tags.append(RunTag(key.replace(":", "."), str(t.system_attrs[key])[:5000]))
    if "train_steps" in t.user_attrs:
        metrics.append(Metric("train_steps", float(t.user_attrs["train_steps"]), end_ms, 0))
    if "error" in t.user_attrs:
        tags.append(RunTag("automl.error", str(t.user_attrs["error"])[:5000]))
    if "solver" in t.user_attrs:  # DARTS: the supernet's training curve, one step per epoch
        tags.append(RunTag("automl.solver", str(t.user_attrs["solver"])))
        for point in t.user_attrs.get("darts_curve", []):
            step = int(point["epoch"])
            metrics.extend(Metric(f"darts_{k}", float(v), end_ms, step) for k, v in point.items() if k != "epoch")
    c.log_batch(rid, metrics=metrics, params=[Param(k, str(v)) for k, v in t.params.items()], tags=tags)
    c.set_terminated(rid, status=_STATUS[t.state], end_time=end_ms)


def log_parent_results(
    config: StudyConfig,
    parent_run_id: str,
    metrics: dict[str, float],
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    c = client(config)
    now = int(time.time() * 1000)
    existing = c.get_run(parent_run_id).data.params
    c.log_batch(
        parent_run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items() if k not in existing],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )


def log_artifact(config: StudyConfig, run_id: str, path: Path, artifact_path: str | None = None) -> None:
    client(config).log_artifact(run_id, str(path), artifact_path)


def log_json(config: StudyConfig, run_id: str, obj: Any, name: str) -> None:
    client(config).log_text(run_id, json.dumps(obj, indent=2, default=str), name)
