"""The batch-scoring DAG of a study with a ``scoring:`` block.

It follows the study's model Asset (``automl_airflow.assets.model_asset``), which the training DAG's
``register_model`` task emits: each successful training run is followed by a scoring run with the
champion (data-aware scheduling); ``scoring.schedule`` adds a cron schedule besides. One task scores
``scoring.source`` with ``models:/<registered model>@champion`` into ``scoring.output`` (replaced
atomically) and logs a scoring run (rows, model version, time) in the study's MLflow experiment.
Parse time: Airflow's SDK and the config only; the task imports the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from automl.config import StudyConfig
from automl_airflow.assets import model_asset


def scoring_dag_id(config_name: str) -> str:
    return f"automl_{config_name}_scoring"


def _schedule(config: StudyConfig, schedules: bool) -> Any:
    assert config.scoring is not None
    if not schedules:
        return None
    asset = model_asset(config.name)
    if config.scoring.schedule:
        return AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(config.scoring.schedule, timezone="UTC"), assets=[asset]
        )
    return [asset]


def build_scoring_dag(config: StudyConfig, source: Path, *, start_date: Any, schedules: bool = True) -> DAG:
    """The scoring DAG of ``config`` (which must have a ``scoring`` block)."""
    sc = config.scoring
    assert sc is not None
    model_uri = f"models:/{config.registered_model_name}@champion"

    @dag(
        dag_id=scoring_dag_id(config.name),
        schedule=_schedule(config, schedules),
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        tags=["automl", "scoring", *config.tags],
        doc_md=f"""\
### Batch scoring for study `{config.name}`
Config: `{source.name}`. Scores `{sc.source}` with `{model_uri}` into `{sc.output}` after each
registered model (Asset `{model_asset(config.name).uri}`){f" and on `{sc.schedule}`" if sc.schedule else ""}.
Each run is logged in the MLflow experiment `{config.experiment_name}` (tag `automl.role=scoring`).
""",
        default_args={"owner": "automl", "retries": config.retries},
    )
    def scoring() -> None:
        @task(task_id="score")
        def score(run_id: str | None = None, dag_run: Any = None) -> dict[str, Any]:
            from automl import tracking
            from automl.model.scoring import log_scoring_run, score_file
            from automl_airflow.connections import apply_connections

            apply_connections(config)  # the tracking connection's credentials, into this process only
            result = score_file(model_uri, Path(sc.source), Path(sc.output), tracking_uri=config.mlflow_uri)
            mlflow_run = log_scoring_run(
                config.mlflow_uri,
                tracking.experiment_id(config),
                result,
                sc.source,
                {"airflow.dag_id": dag_run.dag_id if dag_run else "", "airflow.run_id": str(run_id)},
            )
            return {
                "rows": result.rows,
                "model_version": result.model_version,
                "output": result.output,
                "mlflow_run_id": mlflow_run,
            }

        score()

    return scoring()
