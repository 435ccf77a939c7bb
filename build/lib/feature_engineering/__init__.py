"""Automated feature engineering with featuretools (no Airflow imports).

- :mod:`feature_engineering.dfs`: EntitySet building and Deep Feature Synthesis,
  feature definitions saved so retraining and serving recompute the same features.
- :mod:`feature_engineering.selection`: selection fitted on training data only.
"""

from feature_engineering.dfs import DeepFeatureSynthesis, calculate_features, load_feature_definitions
from feature_engineering.selection import FeatureSelector

__all__ = ["DeepFeatureSynthesis", "FeatureSelector", "calculate_features", "load_feature_definitions"]
