"""Small builders shared by tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from automl.config import StudyConfig, parse_config


def make_config(**overrides: Any) -> StudyConfig:
    data: dict[str, Any] = {
        "name": "t",
        "dataset": {"source": "sklearn:breast_cancer", "target": "target"},
        "task": "classification",
        "metric": "roc_auc",
        "model_space": ["logistic_regression"],
        "sampler": "random",
        "pruning": {"rule": "none"},
        "budget": {"n_trials": 4, "trials_per_slot": 2, "parallelism": 2, "cv_folds": 2},
        "seed": 1,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


def mlflow_server_command(port: int, store: Path) -> list[str]:
    """A lean MLflow tracking server on 127.0.0.1 (one worker, SQLite store and artifacts under ``store``);
    run it with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`` in its environment."""
    mlflow = Path(sys.executable).parent / "mlflow"
    return [
        str(mlflow),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
    ]
