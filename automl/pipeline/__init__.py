"""One AutoML run as one pipeline: the stages declared once (:mod:`automl.pipeline.stages`), their typed
outputs (:mod:`automl.pipeline.artifacts`), and the local runner (:mod:`automl.pipeline.runner`).

The Airflow factory imports this package at DAG-parse time: the names re-exported directly are
standard-library light; the runner (which imports pandas, Optuna, MLflow) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl.pipeline.artifacts import (
    Artifact,
    GeneratedFeatures,
    HoldoutResult,
    LoadedData,
    PassReport,
    Registered,
    Retrained,
    RunContext,
    SearchChecked,
    SelectedFeatures,
    StudyHandle,
    study_name_for,
)
from automl.pipeline.stages import PIPELINE, STAGES, Search, Stage

if TYPE_CHECKING:
    from automl.pipeline.runner import LocalRunner, RunResult, run_local

__all__ = [
    "PIPELINE",
    "STAGES",
    "Artifact",
    "GeneratedFeatures",
    "HoldoutResult",
    "LoadedData",
    "LocalRunner",
    "PassReport",
    "Registered",
    "Retrained",
    "RunContext",
    "RunResult",
    "Search",
    "SearchChecked",
    "SelectedFeatures",
    "Stage",
    "StudyHandle",
    "run_local",
    "study_name_for",
]

_LAZY = {"LocalRunner", "RunResult", "run_local"}


def __getattr__(name: str) -> Any:
    """The runner's names, imported on first use (DAG parsing never needs them)."""
    if name in _LAZY:
        import automl.pipeline.runner as runner  # parse time: see the module docstring

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
