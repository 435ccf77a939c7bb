"""The study config: one YAML file describing a whole AutoML study."""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from automl.config.base import ConfigError, Direction, SamplerName, TaskType, _Strict, format_errors
from automl.config.dataset import DatasetConfig, FeaturesConfig
from automl.config.executor import ExecutorConfig
from automl.config.multiobjective import MEASURES, MultiObjectiveConfig
from automl.config.search import BudgetConfig, PruningConfig, WarmStartConfig
from automl.config.storage import check_storage_url, default_storage_url
from automl.families.registry import FAMILIES, family_names
from automl.metrics.registry import METRICS, metric_names
from automl.paths import state_dir

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RegistryConfig(_Strict):
    """Where the final model is registered in MLflow."""

    model_name: str | None = Field(None, description="registered model name (default: automl-<study name>)")
    auto_promote: bool = Field(
        True,
        description="move the 'champion' alias to a new version that beats the champion on the new run's holdout "
        "(false: an operator moves it by hand; runs only report what they would have done)",
    )
    promote_margin: float = Field(
        0.0,
        ge=0.0,
        description="how much better (in the metric's units) a new version must score than the champion, both on "
        "the new run's holdout, to take the 'champion' alias",
    )


class ScoringConfig(_Strict):
    """Batch scoring with the champion model: a DAG that runs after each registered model and on a schedule."""

    source: str = Field(description="the rows to score: a CSV or Parquet path (relative: to the project folder)")
    output: str = Field(description="where predictions go: a CSV or Parquet path, replaced atomically each run")
    schedule: str | None = Field(
        None, description="cron schedule of the scoring DAG besides the model Asset (default: only after training)"
    )

    @field_validator("source", "output")
    @classmethod
    def _file_kind(cls, v: str) -> str:
        if not v.lower().endswith((".csv", ".parquet", ".pq")):
            raise ValueError("must be a path ending in .csv or .parquet")
        return v


class StudyConfig(_Strict):
    """One AutoML study: the data, what to search, how, and where results go."""

    name: str = Field(description="the study's name: 1-100 letters, digits, '_', '-', '.'")
    description: str = Field("", description="free text shown with the study")
    dataset: DatasetConfig = Field(description="the data to learn from")
    task: TaskType = Field(description="what is predicted: a class or a number")
    metric: str = Field(description="the metric the search optimizes (it must apply to the task)")
    direction: Direction | None = Field(None, description="default: the metric's own; if given, it must agree")
    model_space: list[str] = Field(min_length=1, description="the model families the search may train")
    budget: BudgetConfig = Field(
        BudgetConfig(), description="trials, time and training limits"
    )  # frozen, so sharing the default is safe
    sampler: SamplerName = Field("tpe", description="the Optuna sampler that proposes trials")
    pruning: PruningConfig = Field(PruningConfig(), description="how poor trials are stopped early")
    features: FeaturesConfig = Field(FeaturesConfig(), description="feature generation and selection")
    storage: str | None = Field(
        None,
        description="Optuna storage URL (sqlite:///..., postgresql+psycopg://..., or grpc://host:port for the "
        "storage proxy in front of PostgreSQL: python -m automl.storage.proxy); default SQLite in the state dir",
    )
    storage_retry_s: int = Field(
        120, ge=0, le=3600, description="workers retry a storage outage with backoff for this long, then fail"
    )
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default SQLite in the state dir")
    mlflow_live_trials: Literal["all", "unpruned", "none"] = Field(
        "unpruned",
        description="which trials the workers log to MLflow as they end (the rest reach MLflow when the study "
        "ends, through the final sync): 'unpruned' keeps the CPU that logging the many pruned trials would take "
        "for the search while it runs",
    )
    schedule: str | None = Field(None, description="Airflow schedule of the study's DAG (default: manual runs only)")
    seed: int = Field(0, description="random seed of the sampler, the folds and the models")
    warm_start: WarmStartConfig = Field(WarmStartConfig(), description="seeding from similar past studies")
    executor: ExecutorConfig = Field(ExecutorConfig(), description="where trial slots run")
    registry: RegistryConfig = Field(RegistryConfig(), description="MLflow model registration")
    scoring: ScoringConfig | None = Field(
        None, description="batch scoring with the champion model (a scoring DAG per study; default: none)"
    )
    multi_objective: MultiObjectiveConfig | None = Field(
        None, description="Pareto search over the metric and measured costs (default: single-objective)"
    )
    tags: list[str] = Field(default_factory=list, description="tags of the study's DAG")
    retries: int = Field(2, ge=0, le=10, description="Airflow retries per task")
    retry_delay_s: int = Field(15, ge=0, description="seconds between an Airflow task's retries")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("must be 1-100 characters of letters, digits, '_', '-', '.'")
        return v

    @field_validator("model_space")
    @classmethod
    def _families(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown model space {unknown}; known: {family_names()}")
        if len(set(v)) != len(v):
            raise ValueError("lists a model family twice")
        return v

    @field_validator("storage", "tracking_uri")
    @classmethod
    def _expand_env(cls, v: str | None) -> str | None:
        if v is None:
            return None

        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise ValueError(f"refers to environment variable {m.group(1)}, which is not set")
            return os.environ[m.group(1)]

        return _ENV_RE.sub(repl, v)

    @field_validator("storage")
    @classmethod
    def _storage_scheme(cls, v: str | None) -> str | None:
        if v is not None:
            check_storage_url(v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        problems = []
        if self.metric not in METRICS:
            problems.append(f"metric: unknown metric {self.metric!r}; known: {metric_names()}")
        else:
            m = METRICS[self.metric]
            if self.task not in m.tasks:
                problems.append(f"metric: {self.metric!r} does not apply to task {self.task!r}")
            if self.direction is not None and self.direction != m.direction:
                problems.append(
                    f"direction: {self.metric!r} is better when it is {m.direction}d, not {self.direction}d"
                )
        for fam in self.model_space:
            if fam in FAMILIES and self.task not in FAMILIES[fam].tasks:
                problems.append(f"model_space: {fam!r} does not support task {self.task!r}")
        if self.sampler == "grid" and len(self.model_space) != 1:
            problems.append("sampler: 'grid' needs exactly one model family in model_space")
        for fam in self.model_space:
            if fam in FAMILIES and FAMILIES[fam].pixel_input:
                if not self.dataset.image_shape:
                    problems.append(f"model_space: {fam!r} needs dataset.image_shape ([height, width])")
                if self.features.enabled or self.features.select:
                    problems.append(
                        f"features: {fam!r} reads the columns as pixels in order; set features.enabled and "
                        "features.select to false"
                    )
        if self.multi_objective is not None and self.metric in METRICS:
            problems.extend(self._multi_objective_problems(self.multi_objective))
        if self.executor.kind == "kubernetes" and self.executor.secret_name:
            for key in ("storage", "tracking_uri"):
                if getattr(self, key):  # it would be written, expanded, into the run's config file that pods read
                    problems.append(
                        f"{key}: with executor.secret_name, leave it unset: pods read it from the Secret "
                        f"(AUTOML_STORAGE / MLFLOW_TRACKING_URI), Airflow from its own environment"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _multi_objective_problems(self, mo: MultiObjectiveConfig) -> list[str]:
        problems = []
        names = [o.name for o in mo.objectives]
        known = {self.metric, *MEASURES}
        for o in mo.objectives:
            if o.name not in known:
                problems.append(
                    f"multi_objective.objectives: unknown {o.name!r}; use {self.metric!r} or {sorted(MEASURES)}"
                )
            elif o.direction is not None:
                natural = self.metric_direction if o.name == self.metric else "minimize"
                if o.direction != natural:
                    problems.append(f"multi_objective.objectives: {o.name!r} is better {natural}d, not {o.direction}d")
        if self.metric not in names:
            problems.append(f"multi_objective.objectives must include the study metric {self.metric!r}")
        if len(set(names)) != len(names):
            problems.append("multi_objective.objectives lists an objective twice")
        for name, _op, _bound in mo.parsed_constraints():
            if name not in known:
                problems.append(
                    f"multi_objective.constraints: unknown {name!r}; use {self.metric!r} or {sorted(MEASURES)}"
                )
        for name in mo.reference_point:
            if name not in names:
                problems.append(f"multi_objective.reference_point: {name!r} is not an objective")
        if self.sampler == "cmaes":
            problems.append("sampler: 'cmaes' is single-objective; use nsga2, tpe, gp, random or grid")
        if self.pruning.rule not in ("asha", "none"):
            problems.append("pruning.rule: multi-objective studies support 'asha' (MO-ASHA) or 'none'")
        if self.pruning.rule != "none" and self.pruning.mode != "central":
            problems.append("pruning.mode: Optuna's pruners are single-objective; use 'central'")
        return problems

    # ---- derived values -------------------------------------------------
    @property
    def metric_direction(self) -> Direction:
        return METRICS[self.metric].direction

    @property
    def objective_names(self) -> list[str]:
        """The study's objectives in order (single-objective: just the metric)."""
        return [o.name for o in self.multi_objective.objectives] if self.multi_objective else [self.metric]

    @property
    def directions(self) -> list[Direction]:
        return [self.metric_direction if n == self.metric else "minimize" for n in self.objective_names]

    @property
    def is_multi_objective(self) -> bool:
        return self.multi_objective is not None

    @property
    def storage_url(self) -> str:
        return self.storage or default_storage_url()

    @property
    def mlflow_uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"

    @property
    def experiment_name(self) -> str:
        return f"automl/{self.name}"

    @property
    def registered_model_name(self) -> str:
        return self.registry.model_name or f"automl-{self.name}"

    @property
    def n_slots(self) -> int:
        return -(-self.budget.n_trials // self.budget.trials_per_slot)

    def with_overrides(self, overrides: dict[str, Any]) -> StudyConfig:
        """Apply run-time overrides (the Airflow trigger form) and validate again.

        Accepted keys: n_trials, timeout_s, sampler, parallelism, trials_per_slot.
        """
        data = self.model_dump()
        budget_keys = {"n_trials", "timeout_s", "parallelism", "trials_per_slot"}
        for key, value in overrides.items():
            if key in budget_keys:
                data["budget"][key] = value
            elif key == "sampler":
                data["sampler"] = value
            else:
                raise ConfigError(f"unknown override {key!r}; allowed: {sorted(budget_keys | {'sampler'})}")
        try:
            return StudyConfig.model_validate(data)
        except ValidationError as err:
            raise ConfigError(format_errors(err, "run overrides")) from None
