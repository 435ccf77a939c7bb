"""Build one Airflow DAG per study config (``dags/studies/*.yaml``).

The DAG is the pipeline of ``automl.pipeline.stages`` mapped onto tasks: one task per stage, the
search phase as mapped trial slots (local processes or Kubernetes pods) beside the pruning sensor.
Parse-time cost is kept low: this module imports only Airflow's SDK, ``automl.config`` (PyYAML +
pydantic) and the pipeline's declaration (standard library). Every heavy import happens inside a task.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, get_args

from airflow.sdk import DAG, Param, dag, task

from automl.config import ConfigError, SamplerName, StudyConfig, load_folder
from automl.pipeline import PIPELINE, Registered, Search, Stage
from automl.pipeline.stages import FIRST
from automl_airflow.assets import model_asset
from automl_airflow.dag_args import START_DATE, bind_callbacks, dag_kwargs, schedules_enabled
from automl_airflow.mlflow_links import study_task
from automl_airflow.scoring_dag import build_scoring_dag
from automl_airflow.sensors import StudyProgressSensor
from automl_airflow.sources import SOURCE_KEYS, connection_env, render_source_params, source_params

log = logging.getLogger(__name__)

OVERRIDE_KEYS = ("n_trials", "timeout_s", "total_s", "sampler", "parallelism", "trials_per_slot", *SOURCE_KEYS)
MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default
SENSOR_MIN_RETRIES = 3  # the pruning sensor: see apache/airflow#71172 at its definition


def dag_id_for(config_name: str) -> str:
    return f"automl_{config_name}"


def trigger_params(config: StudyConfig) -> dict[str, Param]:
    """The trigger form: validated fields whose defaults come from the config."""
    b = config.budget
    return {
        "n_trials": Param(
            b.n_trials,
            type="integer",
            minimum=1,
            maximum=MAX_MAP_LENGTH * b.trials_per_slot,
            title="Trials",
            description="How many trials the study runs.",
        ),
        "timeout_s": Param(
            b.timeout_s,
            type=["null", "integer"],
            minimum=1,
            title="Time budget (s)",
            description="No trial starts after this many seconds; empty for no limit.",
        ),
        "total_s": Param(
            b.total_s,
            type=["null", "integer"],
            minimum=1,
            title="End-to-end budget (s)",
            description="The whole run, from reading the data to the fitted final model; the search ends early "
            "enough to leave budget.final_share of it for the final fit. Empty for no limit.",
        ),
        "sampler": Param(
            config.sampler,
            type="string",
            enum=list(get_args(SamplerName)),
            title="Sampler",
            description="Optuna sampler that proposes the configurations.",
        ),
        "parallelism": Param(
            b.parallelism,
            type="integer",
            minimum=1,
            maximum=b.parallelism,
            title="Parallelism",
            description=f"Trials running at once (at most {b.parallelism}, this DAG's slot cap).",
        ),
        "trials_per_slot": Param(
            b.trials_per_slot,
            type="integer",
            minimum=1,
            maximum=1000,
            title="Trials per slot",
            description="Trials each mapped task runs in turn.",
        ),
        "resume_study": Param(
            None,
            type=["null", "string"],
            title="Resume study",
            description="Empty: a new study for this run. A study name of this config (automl_<name>__<run id>, "
            "see `automl studies`): add 'Trials' more trials to it and its MLflow parent run.",
        ),
        **source_params(config),
    }


def effective_config(config: StudyConfig, params: dict[str, Any], base_dir: Path | None = None) -> StudyConfig:
    """The run's config: the trigger form's values applied (a relative ``source`` resolves against ``base_dir``)."""
    overrides = {k: params[k] for k in OVERRIDE_KEYS if params.get(k) is not None}
    cfg = config.with_overrides(overrides, base_dir=base_dir)
    _check_slots(cfg)
    return cfg


def _check_slots(cfg: StudyConfig) -> None:
    if cfg.n_slots > MAX_MAP_LENGTH:
        raise ConfigError(
            f"n_trials={cfg.budget.n_trials} with trials_per_slot={cfg.budget.trials_per_slot} "
            f"makes {cfg.n_slots} slots, over Airflow's max_map_length {MAX_MAP_LENGTH}; "
            "raise trials_per_slot"
        )


def _chain() -> str:
    return " → ".join(f"{s.name} (mapped) ∥ {s.monitor}" if isinstance(s, Search) else s.name for s in PIPELINE)


def _doc_md(config: StudyConfig, source: Path) -> str:
    b = config.budget
    mo = config.multi_objective
    pareto = (
        f"\n· **Pareto search** over {', '.join(config.objective_names)}"
        f"{'; constraints: ' + ', '.join(mo.constraints) if mo.constraints else ''}; retrains the `{mo.pick}` point"
        if mo
        else ""
    )
    return f"""\
### AutoML study `{config.name}`
{config.description}

Config: `{source.name}` · dataset `{config.dataset.label}` (target `{config.dataset.target}`, {config.task})
· metric **{config.metric}** ({config.metric_direction}) · models: {", ".join(config.model_space)}
· sampler `{config.sampler}` · pruning `{config.pruning.rule}`
· {b.n_trials} trials, {b.trials_per_slot} per slot, {b.parallelism} at once, {b.cv_folds}-fold CV.{pareto}

`{_chain()}`. Results: MLflow experiment `{config.experiment_name}`,
registered model `{config.registered_model_name}`.
"""


def _runner_meta(dag_run: Any) -> dict[str, str]:
    """Who runs the stage: the DAG run's ids and its page in the Airflow UI (the MLflow parent run links back)."""
    from automl.urls import airflow_dag_run_url, airflow_ui_base

    return {
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "dag_run_url": airflow_dag_run_url(airflow_ui_base(), dag_run.dag_id, dag_run.run_id),
    }


def _stage_task(config: StudyConfig, stage: Stage, source: Path) -> Any:
    """One pipeline stage as a task: its inputs' XCom dicts in, the stage's artifact (as a dict) out.

    The run is named after the DAG run (the study name); the first stage writes the run's effective
    config (the trigger form applied) into the run's folder, where every later stage reads it.
    """
    decorator = study_task if stage.study_links else task
    # the stage that registers the model emits the study's model Asset (a scoring DAG follows it)
    outlets = [model_asset(config.name)] if stage.output is Registered else []

    @decorator(task_id=stage.name, trigger_rule=stage.trigger_rule, outlets=outlets)
    def run_stage(
        upstream: dict[str, dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
        dag_run: Any = None,
    ) -> dict[str, Any]:
        from automl.pipeline import RunContext, study_name_for
        from automl_airflow.connections import apply_connections

        apply_connections(config)  # credentials into this process's environment (and the workers'), nowhere else
        params = params or {}
        resume = params.get("resume_study")
        runner = _runner_meta(dag_run)
        # every stage derives the same name: from the form's values as given (templates unrendered)
        name = resume or study_name_for(effective_config(config, params, source.parent), str(run_id))
        if stage is FIRST:  # the data source: templates rendered for this run, a connection resolved
            from airflow.sdk import get_current_context

            rendered = render_source_params(params, get_current_context())
            cfg = effective_config(config, rendered, source.parent)
            if resume:  # n_trials more trials in that study (and its MLflow parent run)
                from automl.study import prepare_resume

                cfg = prepare_resume(cfg, resume, cfg.budget.n_trials)
                _check_slots(cfg)
            ctx = RunContext.new(cfg, name, runner)
            with connection_env(ctx.config):
                return stage.run(ctx, {}).to_xcom()
        ctx = RunContext.of(name, runner)
        return stage.run(ctx, stage.inputs_from_xcom(upstream or {})).to_xcom()

    return run_stage


def build_dag(config: StudyConfig, source: Path) -> DAG:
    b = config.budget

    @dag(
        dag_id=dag_id_for(config.name),
        tags=["automl", *config.tags],
        doc_md=_doc_md(config, source),
        params=trigger_params(config),
        **dag_kwargs(config),  # schedule, dates, runs, default_args, notifiers (the config's airflow block)
    )
    def automl_study() -> None:
        # the pipeline's steps in their declared order (automl.pipeline.stages.PIPELINE)
        outputs: dict[str, Any] = {}
        search: list[Any] = []  # the slots and the sensor, upstream of the next stage
        for step in PIPELINE:
            if isinstance(step, Search):
                study = outputs[step.study]
                if config.executor.kind == "kubernetes":
                    trials = _kubernetes_trials(config, study, step.name)
                else:
                    trials = _local_trials(config, study, step.name)
                sensor = StudyProgressSensor(
                    task_id=step.monitor,
                    study=study,
                    trial_task_id=step.name,
                    poke_interval=config.pruning.poke_interval_s,
                    timeout=min((t for t in (b.timeout_s, b.total_s) if t), default=24 * 3600) + 3600,
                    # Airflow can fail a reschedule-mode poke on a stale executor "success" of the previous poke
                    # (apache/airflow#71172; seen here under load, it cost the sensor a retry): each poke is an
                    # idempotent pass over the study storage, so the sensor gets more retries than other tasks
                    retries=max(config.retries, SENSOR_MIN_RETRIES),
                )
                study >> sensor
                search = [trials, sensor]
                continue
            upstream = {name: outputs[name] for name in step.inputs.values()}
            outputs[step.name] = _stage_task(config, step, source)(upstream=upstream)
            if search:
                search >> outputs[step.name]
                search = []

    return bind_callbacks(automl_study())


def _local_trials(config: StudyConfig, study: Any, task_id: str) -> Any:
    """The trial slots as mapped tasks, each running the worker command in a subprocess."""

    @task
    def trial_slots(study: dict[str, Any]) -> list[int]:
        return list(study["slots"])

    @study_task(
        task_id=task_id,
        max_active_tis_per_dagrun=config.budget.parallelism,
        map_index_template="slot {{ task.op_kwargs['slot'] }}",
    )
    def run_trial(slot: int, study: dict[str, Any]) -> dict[str, Any]:
        from automl.worker import worker_command
        from automl_airflow.connections import apply_connections
        from automl_airflow.slots import run_worker

        apply_connections(config)
        result = run_worker(
            worker_command(study["study_name"], slot, study["config_path"], study["train"], study["parent_run_id"])
        )
        return {**result, "slot": slot}  # trial numbers and child run ids: the "MLflow run" link

    return run_trial.partial(study=study).expand(slot=trial_slots(study))


def _kubernetes_trials(config: StudyConfig, study: Any, task_id: str) -> Any:
    """The trial slots as mapped KubernetesPodOperator pods (same worker command, same slots)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from automl_airflow.k8s_pods import pod_operator_kwargs

    @task(task_id="trial_slots")
    def trial_pods(study: dict[str, Any]) -> list[dict[str, Any]]:
        from automl_airflow.k8s_pods import slot_arguments

        return slot_arguments(study, dict(config.executor.labels))

    return KubernetesPodOperator.partial(
        task_id=task_id,
        name="automl-trial",
        max_active_tis_per_dagrun=config.budget.parallelism,
        **pod_operator_kwargs(config),
    ).expand_kwargs(trial_pods(study))


def _broken_dag(stem: str, error: str, source: Path) -> DAG:
    """A visible stand-in for a config that does not validate: its one task fails with the error."""

    @dag(
        dag_id=dag_id_for(stem) + "__invalid_config",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        tags=["automl", "invalid-config"],
        doc_md=f"### Invalid study config `{source.name}`\n```\n{error}\n```",
        default_args={"owner": "automl", "retries": 0},
    )
    def invalid_config() -> None:
        @task
        def report_config_error() -> None:
            raise ConfigError(error)

        report_config_error()

    return invalid_config()


def build_dags(studies_dir: Path) -> dict[str, DAG]:
    """One DAG per ``*.yaml``/``*.yml`` in ``studies_dir``.

    A config that does not validate, shares its study name with another file, or whose DAG cannot be
    built (a notifier that does not import, an unknown operator argument) yields a failing stand-in
    DAG showing the error; every other study still loads. A config with a ``scoring:`` block also gets
    its scoring DAG.
    """
    dags: dict[str, DAG] = {}
    for path, config in load_folder(studies_dir).items():
        if isinstance(config, StudyConfig):
            try:
                d = build_dag(config, path)
            except Exception as err:  # noqa: BLE001 - one bad study must not hide the others (host_chroot refused, ...)
                config = ConfigError(f"invalid study config {path}: cannot build its DAG: {err}")
        if isinstance(config, ConfigError):
            log.error("%s", config)
            d = _broken_dag(path.stem, str(config), path)
            if d.dag_id in dags:  # x.yaml and x.yml
                d = _broken_dag(path.name.replace(".", "_"), str(config), path)
        built = [d]
        if isinstance(config, StudyConfig) and config.scoring is not None:
            built.append(build_scoring_dag(config, path, start_date=START_DATE, schedules=schedules_enabled()))
        for d in built:
            if d.dag_id in dags:
                log.error("%s: its DAG id %s is already taken; skipped", path, d.dag_id)
                continue
            dags[d.dag_id] = d
    return dags
