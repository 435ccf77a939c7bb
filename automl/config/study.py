"""The study config: one YAML file describing a whole AutoML study."""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

import automl.config.envrefs as envrefs
from automl.config.base import ConfigError, Direction, SamplerName, TaskType, _Strict, format_errors
from automl.config.dataset import DatasetConfig, FeaturesConfig, is_uri, resolve_against
from automl.config.executor import ExecutorConfig
from automl.config.multiobjective import MEASURES, MultiObjectiveConfig
from automl.config.nas import NasConfig
from automl.config.orchestration import AirflowConfig, check_schedule
from automl.config.search import BudgetConfig, EnsembleConfig, PortfolioConfig, PruningConfig, WarmStartConfig
from automl.config.space import SEARCH_SPACE_DESCRIPTION, SearchSpace
from automl.config.storage import check_storage_url, default_storage_url
from automl.families.registry import FAMILIES, family_names
from automl.metrics.registry import METRICS, metric_names
from automl.paths import state_dir

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

#: the model families a study searches when its config leaves ``model_space`` out (or null), per task
DEFAULT_MODEL_SPACE: dict[str, list[str]] = {
    "classification": ["lightgbm", "random_forest", "logistic_regression"],
    "regression": ["lightgbm", "random_forest", "ridge"],
}
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RegistryConfig(_Strict):
    """Where the final model is registered in MLflow."""

    model_name: str | None = Field(
        None,
        description="registered model name: 1-128 letters, digits, '_', '-', '.' (default: automl-<study name>); "
        "a model registered by another study config is refused",
    )

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

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, v: str | None) -> str | None:
        if v is not None and not _MODEL_NAME_RE.match(v):
            raise ValueError(
                "must be 1-128 characters of letters, digits, '_', '-', '.', starting with a letter or digit"
            )
        return v


class ScoringConfig(_Strict):
    """Batch scoring with the champion model: a DAG that runs after each registered model and on a schedule."""

    source: str = Field(description="the rows to score: a CSV or Parquet path (relative: to the study file's folder)")
    output: str = Field(
        description="where predictions go: a CSV or Parquet path (relative: to the study file's folder), "
        "replaced atomically each run"
    )
    schedule: str | None = Field(
        None, description="cron schedule of the scoring DAG besides the model Asset (default: only after training)"
    )

    @field_validator("source", "output")
    @classmethod
    def _file_kind(cls, v: str, info: ValidationInfo) -> str:
        if not v.lower().endswith((".csv", ".parquet", ".pq")):
            raise ValueError("must be a path ending in .csv or .parquet")
        if is_uri(v):
            raise ValueError("must be a local path (the scoring DAG writes the output atomically with a rename)")
        return resolve_against(v, info)


class StudyConfig(_Strict):
    """One AutoML study: the data, what to search, how, and where results go."""

    name: str = Field(description="the study's name: 1-100 letters, digits, '_', '-', '.'")
    description: str = Field("", description="free text shown with the study")
    dataset: DatasetConfig = Field(description="the data to learn from")
    task: TaskType = Field(description="what is predicted: a class or a number")
    metric: str = Field(description="the metric the search optimizes (it must apply to the task)")
    direction: Direction | None = Field(None, description="default: the metric's own; if given, it must agree")
    model_space: list[str] = Field(
        default_factory=list,
        min_length=1,
        description="the model families the search may train; left out or null: LightGBM, random forest and the "
        "task's linear model (logistic regression or ridge)",
    )
    budget: BudgetConfig = Field(
        BudgetConfig(), description="trials, time and training limits"
    )  # frozen, so sharing the default is safe
    sampler: SamplerName = Field("tpe", description="the Optuna sampler that proposes trials")
    sampler_options: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments of the Optuna sampler's constructor (e.g. n_startup_trials for tpe), "
        "over the platform's defaults",
    )
    family_choice: Literal["sampler", "cost"] = Field(
        "sampler",
        description="how a trial's model family is chosen when model_space has several: 'sampler' (the sampler "
        "picks `model` like any parameter) or 'cost' (FLAML's rule: probability proportional to 1 / the "
        "family's estimated time to improve on the best; single-objective studies only; automl/family_choice.py)",
    )
    search_space: SearchSpace = Field(default_factory=dict, description=SEARCH_SPACE_DESCRIPTION)
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
    storage_conn_id: str | None = Field(
        None,
        description="Airflow connection holding the study storage (Airflow only; its secrets backends apply): "
        "resolved by the plugin into the tasks' environment, never written; outside Airflow set AUTOML_STORAGE",
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default SQLite in the state dir. Credentials through "
        "MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN, never in the URL",
    )
    tracking_conn_id: str | None = Field(
        None,
        description="Airflow connection of the MLflow server (host, login, password; Airflow only): resolved by "
        "the plugin into MLFLOW_TRACKING_URI/USERNAME/PASSWORD of the tasks' environment; outside Airflow set those",
    )
    mlflow_live_trials: Literal["all", "unpruned", "none"] = Field(
        "all",
        description="which trials the workers log to MLflow as they end, from a background thread (the rest reach "
        "MLflow when the study ends, through the final sync, which retrain_best waits for): 'all' overlaps the "
        "logging with the search (on breast_cancer with total_s 35 on 2 cores, 'unpruned' left ~330 pruned "
        "trials to the final sync: retrain_best took 11.7 s of the run's end-to-end budget, against 4.0 s with "
        "'all', for 20% fewer trials; docs/benchmarks.md); 'unpruned' keeps that CPU for the search and pays it "
        "at the end",
    )
    schedule: str | None = Field(
        None,
        description="Airflow schedule of the study's DAG: a preset (@daily), a cron expression ('0 3 * * *') or "
        "an Asset URI (e.g. automl://other_study/model: run when that study registers a model); "
        "default: manual runs only",
    )
    airflow: AirflowConfig = Field(AirflowConfig(), description="passed through to the study's Airflow DAG")
    seed: int = Field(0, description="random seed of the sampler, the folds and the models")
    warm_start: WarmStartConfig = Field(WarmStartConfig(), description="seeding from similar past studies")
    portfolio: PortfolioConfig = Field(
        PortfolioConfig(), description="the built-in zero-shot configurations tried first"
    )
    executor: ExecutorConfig = Field(ExecutorConfig(), description="where trial slots run")
    registry: RegistryConfig = Field(RegistryConfig(), description="MLflow model registration")
    scoring: ScoringConfig | None = Field(
        None, description="batch scoring with the champion model (a scoring DAG per study; default: none)"
    )
    multi_objective: MultiObjectiveConfig | None = Field(
        None, description="Pareto search over the metric and measured costs (default: single-objective)"
    )
    nas: NasConfig = Field(NasConfig(), description="neural architecture search: the solver (sampled or DARTS)")
    ensemble: EnsembleConfig = Field(
        EnsembleConfig(), description="the final model as an ensemble of trials (default: the best trial alone)"
    )
    tags: list[str] = Field(default_factory=list, description="tags of the study's DAG")
    retries: int = Field(2, ge=0, le=10, description="Airflow retries per task")
    retry_delay_s: int = Field(15, ge=0, description="seconds between an Airflow task's retries")

    @model_validator(mode="before")
    @classmethod
    def _default_model_space(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("model_space") is None and data.get("task") in DEFAULT_MODEL_SPACE:
            data = {**data, "model_space": list(DEFAULT_MODEL_SPACE[data["task"]])}
        return data

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

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        return None if v is None else check_schedule(v)

    @field_validator("storage", "tracking_uri")
    @classmethod
    def _env_refs(cls, v: str | None) -> str | None:
        """``${VAR}`` stays unexpanded (it is what gets written); the names are checked, and set."""
        if v is not None:
            envrefs.expand(v)
        return v

    @field_validator("storage")
    @classmethod
    def _storage_scheme(cls, v: str | None) -> str | None:
        if v is not None:
            check_storage_url(envrefs.expand(v))
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
        for fam in self.search_space:
            if fam not in self.model_space:
                problems.append(f"search_space: {fam!r} is not a family of model_space {self.model_space}")
        if self.multi_objective is not None and self.budget.patience is not None:
            problems.append("budget.patience: single-objective only (a Pareto front has no one best value)")
        if self.family_choice == "cost" and self.multi_objective is not None:
            problems.append("family_choice: 'cost' is single-objective only (it compares each family's best value)")
        if self.sampler == "grid" and len(self.model_space) != 1:
            problems.append("sampler: 'grid' needs exactly one model family in model_space")
        for fam in self.model_space:
            if fam in FAMILIES and FAMILIES[fam].pixel_input:
                if FAMILIES[fam].sequence_input:
                    if not (self.dataset.image_shape or self.dataset.sequence_shape):
                        problems.append(f"model_space: {fam!r} needs dataset.image_shape or dataset.sequence_shape")
                elif not self.dataset.image_shape:
                    problems.append(f"model_space: {fam!r} needs dataset.image_shape ([height, width])")
                if self.features.enabled or self.features.select:
                    problems.append(
                        f"features: {fam!r} reads the columns as pixels in order; set features.enabled and "
                        "features.select to false"
                    )
        if self.nas.solver == "darts" and (self.model_space != ["torch_hybrid"] or self.task != "classification"):
            problems.append(
                "nas.solver: 'darts' searches the torch_hybrid space: set model_space [torch_hybrid] "
                "and task classification"
            )
        if self.nas.solver == "darts" and self.warm_start.enabled:
            problems.append(
                "warm_start: a DARTS study's first trial is DARTS' own; set warm_start.enabled false "
                "(an enqueued warm-start trial would take its place)"
            )
        if self.multi_objective is not None and self.metric in METRICS:
            problems.extend(self._multi_objective_problems(self.multi_objective))
        for key in ("storage", "tracking_uri"):
            if getattr(self, key) and getattr(self, key.replace("_uri", "") + "_conn_id"):
                problems.append(f"{key}: give it or {key.replace('_uri', '')}_conn_id, not both")
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
        """The study storage URL, ``${VAR}`` expanded (may hold a credential: never write it)."""
        if self.storage:
            return self._expanded(self.storage, "storage")
        if self.storage_conn_id and not os.environ.get("AUTOML_STORAGE"):
            raise ConfigError(
                f"storage_conn_id {self.storage_conn_id!r} is resolved by Airflow's tasks; outside Airflow "
                "set AUTOML_STORAGE"
            )
        return default_storage_url()

    @property
    def mlflow_uri(self) -> str:
        """The MLflow tracking URI, ``${VAR}`` expanded."""
        if self.tracking_uri:
            return self._expanded(self.tracking_uri, "tracking_uri")
        if self.tracking_conn_id and not os.environ.get("MLFLOW_TRACKING_URI"):
            raise ConfigError(
                f"tracking_conn_id {self.tracking_conn_id!r} is resolved by Airflow's tasks; outside Airflow "
                "set MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN)"
            )
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"

    @staticmethod
    def _expanded(value: str, key: str) -> str:
        try:
            return envrefs.expand(value)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None

    @property
    def experiment_name(self) -> str:
        return f"automl/{self.name}"

    @property
    def registered_model_name(self) -> str:
        return self.registry.model_name or f"automl-{self.name}"

    @property
    def n_slots(self) -> int:
        return -(-self.budget.n_trials // self.budget.trials_per_slot)

    def with_overrides(self, overrides: dict[str, Any], base_dir: str | os.PathLike[str] | None = None) -> StudyConfig:
        """Apply run-time overrides (the Airflow trigger form) and validate again.

        Accepted keys: n_trials, timeout_s, total_s, sampler, parallelism, trials_per_slot, source (a path/URI
        replacing a file source; relative: against ``base_dir``), sql (the query of a SQL source).
        """
        data = self.model_dump()
        budget_keys = {"n_trials", "timeout_s", "total_s", "parallelism", "trials_per_slot"}
        allowed = sorted(budget_keys | {"sampler", "source", "sql"})
        for key, value in overrides.items():
            if key in budget_keys:
                data["budget"][key] = value
            elif key == "sampler":
                data["sampler"] = value
            elif key == "source":
                data["dataset"]["source"] = value
            elif key == "sql":
                if not isinstance(data["dataset"]["source"], dict):
                    raise ConfigError("override 'sql': the study's dataset.source is not a SQL source")
                data["dataset"]["source"]["sql"] = value
            else:
                raise ConfigError(f"unknown override {key!r}; allowed: {allowed}")
        try:
            context = {"base_dir": base_dir} if base_dir is not None else None
            return StudyConfig.model_validate(data, context=context)
        except ValidationError as err:
            raise ConfigError(format_errors(err, "run overrides")) from None
