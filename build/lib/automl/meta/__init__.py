"""Meta-learning across studies and teams, with MLflow as the knowledge base."""

from automl.meta.features import NAMES, distance, meta_features, normalize
from automl.meta.knowledge import find_neighbours, fit_to_space, record_study, search_space, warm_start

__all__ = [
    "NAMES",
    "distance",
    "find_neighbours",
    "fit_to_space",
    "meta_features",
    "normalize",
    "record_study",
    "search_space",
    "warm_start",
]
