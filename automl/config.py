"""Study configuration: YAML validated into a typed object.

This module is imported at DAG-parse time, so it must stay light: only the
standard library, PyYAML and pydantic (which Airflow itself imports).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from automl.paths import state_dir

TaskType = Literal["classification", "regression"]
Direction = Literal["maximize", "minimize"]
SamplerName = Literal["tpe", "random", "grid", "cmaes", "gp", "nsga2"]
PrunerName = Literal["none", "asha", "median", "hyperband"]
PruningMode = Literal["central", "in_trial"]

#: metric name -> (task types it applies to, direction in which it is better)
METRICS: dict[str, tuple[tuple[str, ...], Direction]] = {
    "roc_auc": (("classification",), "maximize"),
    "accuracy": (("classification",), "maximize"),
    "f1_macro": (("classification",), "maximize"),
    "log_loss": (("classification",), "minimize"),
    "rmse": (("regression",), "minimize"),
    "mae": (("regression",), "minimize"),
    "r2": (("regression",), "maximize"),
}

#: model family -> task types it supports (the families live in automl.spaces)
MODEL_FAMILIES: dict[str, tuple[str, ...]] = {
    "lightgbm": ("classification", "regression"),
    "random_forest": ("classification", "regression"),
    "logistic_regression": ("classification",),
    "ridge": ("regression",),
    "torch_mlp": ("classification", "regression"),
    "torch_cnn": ("classification",),
}

#: measured costs a multi-objective study can minimize or constrain (besides its metric)
MEASURES: dict[str, str] = {
    "latency_ms": "median milliseconds to predict one batch (after warm-up, on the device the model runs on)",
    "memory_mb": "peak inference memory in MB (torch: parameters + activations; other models: serialized size)",
    "n_params": "number of trained parameters (torch) or tree nodes / coefficients (other models)",
}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql", "grpc")


def check_storage_url(url: str) -> None:
    """Raise ValueError unless ``url`` is an Optuna RDB URL or ``grpc://host:port`` (the storage proxy)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in STORAGE_SCHEMES:
        raise ValueError(f"must be a URL starting with one of {[s + '://' for s in STORAGE_SCHEMES]}")
    if scheme == "grpc":
        grpc_address(url)


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://host:port`` -> (host, port)."""
    m = re.fullmatch(r"grpc://([^:/]+|\[[0-9a-fA-F:]+\]):(\d{1,5})/?", url)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValueError("a storage proxy URL must be grpc://host:port")
    return m.group(1), int(m.group(2))


def default_storage_url() -> str:
    """The study storage of a config that names none: ``$AUTOML_STORAGE``, else SQLite in the state folder."""
    return os.environ.get("AUTOML_STORAGE") or f"sqlite:///{state_dir() / 'optuna.db'}"


class ConfigError(ValueError):
    """A study config is invalid; the message names every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_path(v: str) -> str:
    if not v.lower().endswith((".csv", ".parquet", ".pq")):
        raise ValueError("must be a path ending in .csv or .parquet")
    return v


class TableConfig(_Strict):
    """One table of a relational dataset."""

    path: str
    index: str = Field(description="the table's unique id column")
    time_index: str | None = Field(None, description="when each row became known (used with cutoff times)")
    logical_types: dict[str, str] = Field(default_factory=dict, description="woodwork types overriding inference")

    _path = field_validator("path")(classmethod(lambda cls, v: _check_path(v)))


class RelationshipConfig(_Strict):
    parent: str
    child: str
    parent_column: str | None = Field(None, description="default: the parent's index")
    child_column: str | None = Field(None, description="default: same name as the parent column")


class DatasetConfig(_Strict):
    """A single table (``source``) or a relational set of tables (``tables`` + ``relationships``).

    Relative paths are resolved against the project folder.
    """

    source: str | None = Field(None, description="'sklearn:<name>' or a path/URI to a CSV or Parquet file")
    target: str
    holdout_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    tables: dict[str, TableConfig] = Field(default_factory=dict)
    relationships: list[RelationshipConfig] = Field(default_factory=list)
    target_table: str | None = Field(None, description="relational: the table whose rows are predicted")
    image_shape: list[int] | None = Field(
        None,
        min_length=2,
        max_length=3,
        description="image data: [height, width] or [channels, height, width]; columns are the pixels in order",
    )
    cutoff_time: str | None = Field(
        None, description="relational: column of the target table; features use only data known before it"
    )

    @field_validator("source")
    @classmethod
    def _source_kind(cls, v: str | None) -> str | None:
        if v is None or v.startswith("sklearn:"):
            return v
        if not v.lower().endswith((".csv", ".parquet", ".pq")):
            raise ValueError("must be 'sklearn:<name>' or a path ending in .csv or .parquet")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> DatasetConfig:
        if bool(self.source) == bool(self.tables):
            raise ValueError("give either 'source' (one table) or 'tables' (relational), not both or neither")
        if self.tables:
            problems = []
            if self.target_table not in self.tables:
                problems.append(f"target_table {self.target_table!r} is not one of the tables {sorted(self.tables)}")
            for i, r in enumerate(self.relationships):
                for end in (r.parent, r.child):
                    if end not in self.tables:
                        problems.append(f"relationships[{i}] names table {end!r}, which is not in tables")
            if problems:
                raise ValueError("; ".join(problems))
        elif self.relationships or self.target_table or self.cutoff_time:
            raise ValueError("relationships, target_table and cutoff_time need 'tables'")
        return self

    @property
    def relational(self) -> bool:
        return bool(self.tables)

    @property
    def label(self) -> str:
        return self.source or f"tables {sorted(self.tables)} (target table {self.target_table})"


class LeakageConfig(_Strict):
    action: Literal["drop", "fail", "off"] = "drop"
    threshold: float = Field(0.99, gt=0.5, le=1.0, description="one-feature CV AUC (or R^2) that counts as a leak")


class FeaturesConfig(_Strict):
    enabled: bool = True
    select: bool = Field(True, description="run feature selection (off: keep every column, in order)")
    trans_primitives: list[str] = Field(default_factory=lambda: ["add_numeric", "multiply_numeric"])
    agg_primitives: list[str] = Field(
        default_factory=lambda: ["sum", "mean", "max", "min", "std", "count", "num_unique", "mode"],
        description="relational only",
    )
    max_depth: int = Field(1, ge=1, le=3)
    max_generated: int = Field(300, ge=1, description="cap on DFS output features")
    ignore_columns: dict[str, list[str]] = Field(default_factory=dict, description="table -> columns DFS must not use")
    drop_contains: list[str] = Field(default_factory=list, description="drop generated features whose name contains")
    corr_threshold: float = Field(0.95, gt=0.0, le=1.0)
    null_threshold: float = Field(0.95, gt=0.0, le=1.0)
    max_features: int | None = Field(None, ge=1, description="keep at most this many, by LightGBM importance under CV")
    generated_must_help: bool = Field(
        True,
        description="single table: keep DFS's generated columns only if they improve a quick LightGBM's CV loss "
        "on the training rows over the original columns alone",
    )
    leakage: LeakageConfig = LeakageConfig()  # frozen, so sharing the default is safe


class BudgetConfig(_Strict):
    n_trials: int = Field(20, ge=1, le=100_000)
    timeout_s: int | None = Field(None, ge=1, description="time budget for the trial phase")
    parallelism: int = Field(2, ge=1, le=1024, description="trial slots running at once")
    trials_per_slot: int = Field(1, ge=1, le=1000)
    cv_folds: int = Field(3, ge=2, le=20)
    max_rounds: int = Field(300, ge=1, le=100_000, description="LightGBM: most boosting rounds per fold")
    report_every: int = Field(10, ge=1, description="LightGBM: rounds between intermediate reports")
    early_stopping_rounds: int = Field(50, ge=1, description="LightGBM: stop after this many rounds without gain")
    max_epochs: int = Field(30, ge=1, le=10_000, description="torch: most epochs per fold")
    early_stopping_epochs: int = Field(8, ge=1, description="torch: stop after this many epochs without gain")


class PruningConfig(_Strict):
    """How poor trials are stopped.

    ``mode: central``: the pruning sensor applies the rule to the study storage and
    writes a stop signal that the worker sees at its next report (the worker also
    applies the same rule at each report when ``worker_check`` is on, so pruning
    works when trials and sensor cannot run at the same time, e.g. ``dag.test()``).
    ``mode: in_trial``: Optuna's own pruner of the same rule inside the trial.
    """

    rule: PrunerName = "asha"
    mode: PruningMode = "central"
    worker_check: bool = True
    n_startup_trials: int = Field(5, ge=0, description="median: trials before pruning starts")
    min_resource: int | None = Field(
        None,
        ge=1,
        description="asha/hyperband: step of the first rung; default: the first report for LightGBM "
        "(report_every boosting rounds) and fold-wise models, max_epochs // reduction_factor epochs for torch",
    )
    # 4 (Optuna's SuccessiveHalvingPruner default too): in benchmarks.pruning, 5 seeds x 3 studies, eta 4 saved
    # 77.3% of training steps at a 0.051% mean best-CV loss per study; eta 3 saved 73.2% at 0.068%
    reduction_factor: int = Field(4, ge=2, description="asha/hyperband: keep the top 1/eta at each rung")
    min_trials_at_rung: int = Field(1, ge=1, description="asha: a rung judges only once this many trials reached it")
    rung_value: Literal["current", "best"] = Field(
        "current", description="asha: compare the value on reaching a rung (as Optuna does), or the best value up to it"
    )
    heartbeat_interval_s: int = Field(10, ge=1)
    stale_after_s: int = Field(
        60, ge=2, description="a running trial without a heartbeat this long is failed and retried"
    )
    poke_interval_s: int = Field(10, ge=1, description="how often the sensor reads the study storage")
    stop_grace_s: int = Field(
        60,
        ge=1,
        description="a trial told to stop and still running this long after is ended by the sensor "
        "(Kubernetes: its pod is deleted) and marked PRUNED",
    )

    @model_validator(mode="after")
    def _grace(self) -> PruningConfig:
        if self.stale_after_s <= self.heartbeat_interval_s:
            raise ValueError("stale_after_s must be longer than heartbeat_interval_s")
        return self


class WarmStartConfig(_Strict):
    """Meta-learning: seed a new study with the best configurations of similar past studies."""

    enabled: bool = True
    k: int = Field(3, ge=1, le=50, description="nearest past studies to use")
    configs_per_neighbour: int = Field(3, ge=1, le=50)
    experiments: list[str] = Field(default_factory=list, description="only these MLflow experiments (default: all)")
    max_distance: float | None = Field(
        0.25,
        gt=0,
        description="ignore past studies farther than this (normalized meta-feature distance; "
        "a resample of the same data is ~0.03 away, a different dataset ~0.5); null: no limit",
    )


class ExecutorConfig(_Strict):
    """Where trial slots run: in the Airflow task (``local``) or as Kubernetes pods.

    Pods run the same ``python -m automl.worker ...`` command. Storage and MLflow URLs reach
    them only through the Kubernetes Secret ``secret_name`` (as ``AUTOML_STORAGE`` and
    ``MLFLOW_TRACKING_URI``), never through the command line or the pod spec. The run's data
    folder must be shared with the pods: ``shared_volume_claim`` (a PVC) or ``shared_host_path``.
    """

    kind: Literal["local", "kubernetes"] = "local"
    image: str = "automl-worker:0.1.0"
    namespace: str = "default"
    gpus: int = Field(0, ge=0, le=16, description="nvidia.com/gpu limit per trial pod")
    cpu_request: str = "500m"
    cpu_limit: str = "1"
    memory_request: str = "1Gi"
    memory_limit: str = "2Gi"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, str]] = Field(default_factory=list)
    service_account: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    labels: dict[str, str] = Field(default_factory=dict)
    active_deadline_s: int | None = Field(None, ge=1)
    secret_name: str | None = Field(None, description="Kubernetes Secret with AUTOML_STORAGE / MLFLOW_TRACKING_URI")
    command: list[str] = Field(default_factory=lambda: ["python"], description="the interpreter inside the image")
    run_as_user: int = Field(10001, ge=1, description="pods never run as root")
    shared_volume_claim: str | None = None
    shared_host_path: str | None = None
    kubernetes_conn_id: str | None = Field(None, description="Airflow connection for the cluster (default: in-cluster)")
    host_network: bool = Field(False, description="pods share the node's network (reach services on its 127.0.0.1)")
    host_chroot: bool = Field(
        False,
        description="DEV/TEST ONLY (single-node clusters such as ../shared/k8s-local): instead of the image's "
        "Python, mount the node's / at /host and chroot into it, running `command` (an absolute path of an "
        "interpreter on the node). chroot needs root, so such pods run as uid 0 with every capability dropped "
        "but SYS_CHROOT; never use it on a shared cluster",
    )

    @model_validator(mode="after")
    def _chroot(self) -> ExecutorConfig:
        if self.host_chroot:
            if not self.command or not self.command[0].startswith("/"):
                raise ValueError(
                    "host_chroot needs `command` to start with the absolute path of the node's interpreter"
                )
            if self.shared_volume_claim or self.shared_host_path:
                raise ValueError(
                    "host_chroot sees the node's whole filesystem: drop shared_volume_claim/shared_host_path"
                )
        return self


class ObjectiveConfig(_Strict):
    name: str = Field(description="the study's metric, or one of the measures " + ", ".join(MEASURES))
    direction: Direction | None = Field(None, description="default: the metric's own; measures are minimized")


class MultiObjectiveConfig(_Strict):
    """Pareto search over the metric and measured costs, with optional hard constraints.

    Constrained trials are handled by Optuna's constraints support: an infeasible
    trial never enters the reported front and is never retrained.
    """

    objectives: list[ObjectiveConfig] = Field(min_length=2, max_length=4)
    constraints: list[str] = Field(default_factory=list, description="e.g. 'latency_ms <= 5', 'accuracy >= 0.9'")
    pick: Literal["best_metric", "knee"] = Field(
        "best_metric", description="which front point is retrained: best metric, or the knee (balanced) point"
    )
    reference_point: dict[str, float] = Field(
        default_factory=dict, description="hypervolume reference per objective (default: constraint or worst value)"
    )
    latency_batch_size: int = Field(256, ge=1, le=100_000)
    latency_repeats: int = Field(15, ge=3, le=1000)
    population_size: int = Field(10, ge=2, le=1000, description="nsga2: population per generation")
    crossover: Literal["uniform", "sbx", "blxalpha", "vsbx"] = Field(
        "uniform", description="nsga2: crossover of numeric parameters (Optuna's; categorical ones always uniform)"
    )
    mutation: Literal["resample", "polynomial"] = Field(
        "resample",
        description="nsga2: 'resample' draws a mutated parameter anew; 'polynomial' moves it near its value "
        "(Deb's polynomial mutation, Optuna's PolynomialMutation)",
    )

    @field_validator("objectives", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return [{"name": o} if isinstance(o, str) else o for o in v] if isinstance(v, list) else v

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not _CONSTRAINT_RE.match(c)]
        if bad:
            raise ValueError(f"cannot read constraint(s) {bad}: write 'name <= number' or 'name >= number'")
        return v

    def parsed_constraints(self) -> list[tuple[str, str, float]]:
        out = []
        for c in self.constraints:
            m = _CONSTRAINT_RE.match(c)
            assert m is not None
            out.append((m.group(1), m.group(2), float(m.group(3))))
        return out


class RegistryConfig(_Strict):
    model_name: str | None = None


class StudyConfig(_Strict):
    name: str
    description: str = ""
    dataset: DatasetConfig
    task: TaskType
    metric: str
    direction: Direction | None = None
    model_space: list[str] = Field(min_length=1)
    budget: BudgetConfig = BudgetConfig()  # frozen, so sharing the default is safe
    sampler: SamplerName = "tpe"
    pruning: PruningConfig = PruningConfig()  # frozen, so sharing the default is safe
    features: FeaturesConfig = FeaturesConfig()  # frozen, so sharing the default is safe
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
    schedule: str | None = None
    seed: int = 0
    warm_start: WarmStartConfig = WarmStartConfig()  # frozen, so sharing the default is safe
    executor: ExecutorConfig = ExecutorConfig()  # frozen, so sharing the default is safe
    registry: RegistryConfig = RegistryConfig()  # frozen, so sharing the default is safe
    multi_objective: MultiObjectiveConfig | None = None
    tags: list[str] = Field(default_factory=list)
    retries: int = Field(2, ge=0, le=10, description="Airflow retries per task")
    retry_delay_s: int = Field(15, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("must be 1-100 characters of letters, digits, '_', '-', '.'")
        return v

    @field_validator("model_space")
    @classmethod
    def _families(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in MODEL_FAMILIES]
        if unknown:
            raise ValueError(f"unknown model space {unknown}; known: {sorted(MODEL_FAMILIES)}")
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
            problems.append(f"metric: unknown metric {self.metric!r}; known: {sorted(METRICS)}")
        else:
            tasks, better = METRICS[self.metric]
            if self.task not in tasks:
                problems.append(f"metric: {self.metric!r} does not apply to task {self.task!r}")
            if self.direction is not None and self.direction != better:
                problems.append(f"direction: {self.metric!r} is better when it is {better}d, not {self.direction}d")
        for fam in self.model_space:
            if self.task not in MODEL_FAMILIES.get(fam, (self.task,)):
                problems.append(f"model_space: {fam!r} does not support task {self.task!r}")
        if self.sampler == "grid" and len(self.model_space) != 1:
            problems.append("sampler: 'grid' needs exactly one model family in model_space")
        if "torch_cnn" in self.model_space:
            if not self.dataset.image_shape:
                problems.append("model_space: 'torch_cnn' needs dataset.image_shape ([height, width])")
            if self.features.enabled or self.features.select:
                problems.append(
                    "features: 'torch_cnn' reads the columns as pixels in order; set features.enabled and "
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
        return METRICS[self.metric][1]

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
    def first_rung(self) -> int:
        """The pruning rules' first rung (in the step unit of the searched models)."""
        if self.pruning.min_resource is not None:
            return self.pruning.min_resource
        if "lightgbm" in self.model_space:
            return self.budget.report_every
        if set(self.model_space) <= {"torch_mlp", "torch_cnn"}:
            # a net's first epochs rank it by its learning rate, not by where it ends (benchmarks.pruning,
            # digits: the final best trial ranked 21st of 40 after one epoch): judge first at max_epochs / eta
            return max(1, self.budget.max_epochs // self.pruning.reduction_factor)
        return 1

    @property
    def max_resource(self) -> int:
        """The largest step a trial reports (boosting rounds, epochs or folds)."""
        if "lightgbm" in self.model_space:
            return self.budget.max_rounds
        if "torch_mlp" in self.model_space or "torch_cnn" in self.model_space:
            return self.budget.max_epochs
        return self.budget.cv_folds

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
        return parse_config(data, source="run overrides")


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid study config {source}: {err.error_count()} problem(s)"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        if e["type"] != "value_error" and isinstance(got, str | int | float | bool) and len(repr(got)) <= 80:
            msg += f" (got {got!r})"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<dict>") -> StudyConfig:
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid study config {source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read and validate one study config file; raises ConfigError naming the problem."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read study config {p}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid study config {p}: malformed YAML: {err}") from None
    return parse_config(data, source=str(p))


def config_from_json(text: str) -> StudyConfig:
    import json

    return parse_config(json.loads(text), source="<json>")
