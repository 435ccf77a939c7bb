"""The end-of-run summary a person reads: progress, the leaderboard, the holdout score, the model, where to browse.

``automl run`` and ``make demo`` print it; it reads the study storage and the MLflow parent run,
so it describes a run however it ran (locally or on Airflow).
"""

from __future__ import annotations

from automl import tracking
from automl.config import StudyConfig
from automl.redact import redact
from automl.study import format_leaderboard, leaderboard, open_study, progress


def run_summary(config: StudyConfig, study_name: str, top: int = 10) -> str:
    study = open_study(config, study_name)
    lines = [
        f"== study {study_name}: {progress(study).line()}",
        format_leaderboard(leaderboard(study, top), config.metric),
    ]
    parent = tracking.find_parent_run(config, study_name)
    run = tracking.client(config).get_run(parent) if parent else None
    if run is not None:
        m, tags = run.data.metrics, run.data.tags
        holdout, best = m.get(f"holdout_{config.metric}"), m.get(f"best_cv_{config.metric}")
        if holdout is not None:
            lines.append(
                f"\n== holdout {config.metric}: {holdout:.5f} (best CV {best if best is None else f'{best:.5f}'}) "
                f"on {int(m.get('holdout_rows', 0))} rows that no trial saw"
            )
        if tags.get("automl.registered_model"):
            lines.append(f"== registered model: {tags['automl.registered_model']}")
            if tags.get("automl.promotion"):
                lines.append(f"   {tags['automl.promotion']}")
            lines.append(
                f"   score a file: automl predict models:/{config.registered_model_name}@champion INPUT -o OUTPUT"
            )
        lines.append(f"== MLflow: experiment '{config.experiment_name}', parent run {parent}")
        lines.append(
            f"   browse:  mlflow ui --backend-store-uri {redact(config.mlflow_uri)} --port 5000  -> http://127.0.0.1:5000"
        )
    return "\n".join(lines)
