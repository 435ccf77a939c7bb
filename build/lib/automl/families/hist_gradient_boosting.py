"""scikit-learn's histogram gradient boosting (HistGradientBoostingClassifier/Regressor).

Categorical columns are ordinal-encoded (as for LightGBM), missing values are left to the
model's native handling of NaN, and trials are cross-validated fold by fold (the default).
``max_iter`` is searched; scikit-learn's own early stopping applies on data over 10,000 rows.
"""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from automl.config import StudyConfig
from automl.families.base import ModelFamily
from automl.families.cv import StepReporter
from automl.measure import model_costs


class HistGradientBoostingFamily(ModelFamily):
    name = "hist_gradient_boosting"
    tasks = ("classification", "regression")
    one_hot = False

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float(f"{prefix}learning_rate", 0.01, 0.3, log=True),
            "max_iter": trial.suggest_int(f"{prefix}max_iter", 50, 500, log=True),
            "max_leaf_nodes": trial.suggest_int(f"{prefix}max_leaf_nodes", 4, 128, log=True),
            "min_samples_leaf": trial.suggest_int(f"{prefix}min_samples_leaf", 5, 100, log=True),
            "l2_regularization": trial.suggest_float(f"{prefix}l2_regularization", 1e-3, 10.0, log=True),
            "max_features": trial.suggest_float(f"{prefix}max_features", 0.3, 1.0),
        }

    def grid(self) -> dict[str, list[Any]]:
        return {
            "learning_rate": [0.03, 0.1],
            "max_iter": [100, 300],
            "max_leaf_nodes": [15, 31],
            "min_samples_leaf": [10, 40],
            "l2_regularization": [0.1],
            "max_features": [0.5, 1.0],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
        return cls(**params, random_state=seed)

    def cross_validate(
        self,
        trial: optuna.Trial,
        config: StudyConfig,
        params: dict[str, Any],
        X: pd.DataFrame,
        y: pd.Series,
        reporter: StepReporter,
    ) -> float:
        # one OpenMP thread per trial, as LightGBM's num_threads=1: trial slots run side by side
        with threadpool_limits(limits=1, user_api="openmp"):
            return super().cross_validate(trial, config, params, X, y, reporter)

    def costs(self, model: Any, batch: Any, repeats: int) -> dict[str, float]:
        costs = model_costs(model, batch, repeats)
        est = model.steps[-1][1]
        # the fitted trees (one per iteration and class); their node count is the model's size
        costs["n_params"] = float(sum(len(tree.nodes) for trees in est._predictors for tree in trees))
        return costs
