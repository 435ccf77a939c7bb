"""scikit-learn's random forest; cross-validated fold by fold (the default)."""

from __future__ import annotations

from typing import Any

import optuna
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from automl.families.base import ModelFamily


class RandomForestFamily(ModelFamily):
    name = "random_forest"
    tasks = ("classification", "regression")

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int(f"{prefix}n_estimators", 50, 300, step=50),
            "max_depth": trial.suggest_int(f"{prefix}max_depth", 2, 24, log=True),
            "min_samples_leaf": trial.suggest_int(f"{prefix}min_samples_leaf", 1, 20, log=True),
            "max_features": trial.suggest_float(f"{prefix}max_features", 0.1, 1.0),
        }

    def grid(self) -> dict[str, list[Any]]:
        return {
            "n_estimators": [100, 300],
            "max_depth": [4, 12],
            "min_samples_leaf": [1, 5],
            "max_features": [0.3, 0.7],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
        return cls(**params, random_state=seed, n_jobs=1)
