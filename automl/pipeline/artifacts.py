"""What the stages hand each other: small typed records of values and file paths.

Data moves as Parquet files in the run's folder, never through XCom: an artifact
holds the paths and a few numbers. ``to_xcom``/``from_xcom`` turn one into the
JSON-able dict an Airflow task returns and back; the local runner passes the
objects themselves. Standard library only: the DAG factory imports this module
at parse time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Self

from automl.config import StudyConfig, config_from_json
from automl.paths import run_dir, safe_name, state_dir


@dataclass(frozen=True)
class Artifact:
    """Base of every stage output."""

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Self:
        """Rebuild from a task's XCom; keys that this version does not know are ignored."""
        names = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [n for n in required if n not in data]
        if missing:
            raise ValueError(f"{cls.__name__} from XCom: missing {missing}")
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RunContext:
    """Which run a stage works for: the run's effective config (a JSON file in its folder) and study name.

    ``runner``: who runs it (an Airflow DAG run's ids and URL, or the local runner's name), written on
    the MLflow parent run.
    """

    config_path: str
    study_name: str
    runner: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, study_name: str, runner: dict[str, str] | None = None) -> RunContext:
        """The context of a run whose first stage has written its config (where ``new`` puts it)."""
        return cls(str(state_dir() / "runs" / safe_name(study_name) / "config.json"), study_name, dict(runner or {}))

    @classmethod
    def new(cls, config: StudyConfig, study_name: str, runner: dict[str, str] | None = None) -> RunContext:
        """The context of a run's first stage: the config in hand, its file not yet written.

        ``load_data`` writes the file once the data has validated, so bad input leaves no run folder.
        """
        ctx = cls.of(study_name, runner)
        ctx.__dict__["config"] = config  # seeds the cached property
        return ctx

    @cached_property
    def config(self) -> StudyConfig:
        return config_from_json(Path(self.config_path).read_text())

    def save_config(self) -> None:
        """Write the effective config into the run's folder: later stages and the workers read it there."""
        write_json(self.out / "config.json", self.config.model_dump(mode="json"))

    @property
    def out(self) -> Path:
        """The run's folder (Parquet files, feature definitions, the model)."""
        return run_dir(self.study_name)


def study_name_for(config: StudyConfig, run_id: str) -> str:
    """One study per run and effective config: ``<config name>__<run id, readable part>__<hash>``.

    The hash covers the whole run id and the effective config (the trigger form applied), so a long
    run id, a run id chosen to look like another's, or config names that overlap as prefixes never
    share a study; a changed config is a new study. The data's fingerprint is checked when the study
    is reopened (:func:`automl.study.create_or_open`).
    """
    digest = hashlib.sha256(f"{run_id}\0{config.model_dump_json()}".encode()).hexdigest()[:16]
    return f"{config.name}__{safe_name(run_id)[:60]}__{digest}"


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a retried task never reads half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)


@dataclass(frozen=True)
class LoadedData(Artifact):
    """``load_data``: the validated rows split into training and untouched holdout Parquet files."""

    study_name: str
    config_path: str
    train: str
    holdout: str
    summary: dict[str, Any]
    meta: dict[str, Any]
    fingerprint: str = ""
    # when the run's end-to-end clock started (epoch seconds): load_data's start, before the data was read
    started_at: float | None = None

    def context(self, runner: dict[str, str] | None = None) -> RunContext:
        return RunContext(self.config_path, self.study_name, dict(runner or {}))


@dataclass(frozen=True)
class GeneratedFeatures(Artifact):
    """``generate_features``: DFS feature matrices for both parts and the saved definitions."""

    train: str
    holdout: str
    definitions: str
    n_generated: int
    seconds: float
    names: str


@dataclass(frozen=True)
class SelectedFeatures(Artifact):
    """``select_features``: the kept columns' matrices, their definitions and the selection report."""

    train: str
    holdout: str
    definitions: str
    n_generated: int
    n_selected: int
    report: str


@dataclass(frozen=True)
class StudyHandle(Artifact):
    """``create_study``: the Optuna study, its MLflow parent run and the trial slots to run."""

    study_name: str
    parent_run_id: str
    experiment_id: str
    mlflow_ui: str
    config_path: str
    train: str
    slots: list[int]
    warm_start: int
    portfolio: int = 0  # zero-shot configurations enqueued after the warm start


@dataclass(frozen=True)
class PassReport(Artifact):
    """One pass of the central pruning manager (a sensor poke): progress and what it did."""

    total: int
    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    best_value: float | None
    best_trial: int | None
    finished: int
    line: str
    n_trials: int
    stale_failed: list[int]
    stopped: dict[str, str]
    enforced: dict[str, list[str]]
    budget_spent: bool


@dataclass(frozen=True)
class SearchChecked(Artifact):
    """``check_search``: the search reached its trial budget (or its deadline) within its failure budget."""

    complete: int
    pruned: int
    failed: int
    n_trials: int
    deadline_reached: bool


@dataclass(frozen=True)
class Retrained(Artifact):
    """``retrain_best``: the chosen configuration refitted on all training rows."""

    model_path: str
    best_trial: int
    best_cv: float
    best_params: dict[str, Any]
    model_sha256: str = ""


@dataclass(frozen=True)
class HoldoutResult(Artifact):
    """``evaluate_holdout``: the retrained model scored once on the untouched holdout."""

    metric: str
    holdout_score: float
    best_cv: float
    holdout_rows: int
    costs: dict[str, float] | None = None
    feasible: bool | None = None


@dataclass(frozen=True)
class Registered(Artifact):
    """``register_model``: the registered model version."""

    name: str
    version: str
    parent_run_id: str
    champion: bool = False
