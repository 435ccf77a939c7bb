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
from automl.config.dataset import (
    DatasetConfig,
    FeaturesConfig,
    LeakageConfig,
    RelationshipConfig,
    SqlSourceConfig,
    TableConfig,
    is_uri,
)
from automl.config.executor import ExecutorConfig
from automl.config.loading import config_from_json, load_config, load_folder, parse_config, study_files
from automl.config.multiobjective import MEASURES, MultiObjectiveConfig, ObjectiveConfig
from automl.config.nas import NasConfig
from automl.config.orchestration import AirflowConfig, NotifierConfig, is_asset_schedule
from automl.config.search import BudgetConfig, EnsembleConfig, PortfolioConfig, PruningConfig, WarmStartConfig
from automl.config.space import ParamOverride, ParamRange, SearchSpace
from automl.config.storage import STORAGE_SCHEMES, check_storage_url, default_storage_url, grpc_address
from automl.config.study import RegistryConfig, ScoringConfig, StudyConfig

__all__ = [
    "MEASURES",
    "STORAGE_SCHEMES",
    "AirflowConfig",
    "BudgetConfig",
    "ConfigError",
    "DatasetConfig",
    "EnsembleConfig",
    "Direction",
    "ExecutorConfig",
    "FeaturesConfig",
    "LeakageConfig",
    "MultiObjectiveConfig",
    "NasConfig",
    "NotifierConfig",
    "ObjectiveConfig",
    "ParamOverride",
    "ParamRange",
    "PortfolioConfig",
    "PrunerName",
    "PruningConfig",
    "PruningMode",
    "RegistryConfig",
    "RelationshipConfig",
    "SamplerName",
    "ScoringConfig",
    "SearchSpace",
    "SqlSourceConfig",
    "StudyConfig",
    "TableConfig",
    "TaskType",
    "WarmStartConfig",
    "check_storage_url",
    "config_from_json",
    "default_storage_url",
    "format_errors",
    "grpc_address",
    "is_asset_schedule",
    "is_uri",
    "load_config",
    "load_folder",
    "parse_config",
    "study_files",
]
