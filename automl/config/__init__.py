"""Study configuration: YAML validated into a typed object.

This package is imported at DAG-parse time, so it must stay light: only the
standard library, PyYAML, pydantic (which Airflow itself imports) and the light
registries of model families and metrics (``automl.families.registry``,
``automl.metrics.registry``).
"""

from automl.config.base import (
    ConfigError,
    Direction,
    PrunerName,
    PruningMode,
    SamplerName,
    TaskType,
    format_errors,
)
from automl.config.dataset import DatasetConfig, FeaturesConfig, LeakageConfig, RelationshipConfig, TableConfig
from automl.config.executor import ExecutorConfig
from automl.config.loading import config_from_json, load_config, parse_config
from automl.config.multiobjective import MEASURES, MultiObjectiveConfig, ObjectiveConfig
from automl.config.search import BudgetConfig, PruningConfig, WarmStartConfig
from automl.config.storage import STORAGE_SCHEMES, check_storage_url, default_storage_url, grpc_address
from automl.config.study import RegistryConfig, ScoringConfig, StudyConfig

__all__ = [
    "MEASURES",
    "STORAGE_SCHEMES",
    "BudgetConfig",
    "ConfigError",
    "DatasetConfig",
    "Direction",
    "ExecutorConfig",
    "FeaturesConfig",
    "LeakageConfig",
    "MultiObjectiveConfig",
    "ObjectiveConfig",
    "PrunerName",
    "PruningConfig",
    "PruningMode",
    "RegistryConfig",
    "RelationshipConfig",
    "SamplerName",
    "ScoringConfig",
    "StudyConfig",
    "TableConfig",
    "TaskType",
    "WarmStartConfig",
    "check_storage_url",
    "config_from_json",
    "default_storage_url",
    "format_errors",
    "grpc_address",
    "load_config",
    "parse_config",
]
