"""Linear models on standardized features: logistic regression (classification), ridge (regression)."""

from __future__ import annotations

from typing import Any

import optuna
from sklearn.linear_model import LogisticRegression, Ridge

from automl.families.base import ModelFamily


class LogisticRegressionFamily(ModelFamily):
    name = "logistic_regression"
    tasks = ("classification",)
    scale_numeric = True

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"C": trial.suggest_float(f"{prefix}C", 1e-4, 1e3, log=True)}

    def grid(self) -> dict[str, list[Any]]:
        return {"C": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]}

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        return LogisticRegression(**params, max_iter=2000, random_state=seed)


class RidgeFamily(ModelFamily):
    name = "ridge"
    tasks = ("regression",)
    scale_numeric = True

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"alpha": trial.suggest_float(f"{prefix}alpha", 1e-4, 1e3, log=True)}

    def grid(self) -> dict[str, list[Any]]:
        return {"alpha": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]}

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        return Ridge(**params, random_state=seed)
