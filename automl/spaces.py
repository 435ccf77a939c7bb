"""Model spaces: what a trial may train, and how to build it.

A study's model space is a list of families. With more than one family the
trial first picks ``model`` (categorical), then that family's parameters,
prefixed with the family name so conditional parameters never collide.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from automl.config import MODEL_FAMILIES, StudyConfig


class ModelFamily(ABC):
    name: str
    tasks: tuple[str, ...]

    @abstractmethod
    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        """Sample this family's hyperparameters (names without the prefix)."""

    @abstractmethod
    def grid(self) -> dict[str, list[Any]]:
        """A small grid over the same parameters, for the grid sampler."""

    @abstractmethod
    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        """An unfitted estimator."""

    scale_numeric: bool = False
    one_hot: bool = True

    def pipeline(self, params: dict[str, Any], task: str, seed: int) -> Pipeline:
        num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
        if self.scale_numeric:
            num_steps.append(("scale", StandardScaler()))
        cat: Any = (
            OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)
            if self.one_hot
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        )
        cat_pipe = Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", cat)])
        pre = ColumnTransformer(
            [
                ("num", Pipeline(num_steps), make_column_selector(dtype_include=np.number)),
                ("cat", cat_pipe, make_column_selector(dtype_exclude=np.number)),
            ],
            verbose_feature_names_out=False,
        )
        return Pipeline([("pre", pre), ("model", self.estimator(params, task, seed))])


class LightGBMFamily(ModelFamily):
    name = "lightgbm"
    tasks = ("classification", "regression")
    one_hot = False

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float(f"{prefix}learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int(f"{prefix}num_leaves", 4, 128, log=True),
            "min_child_samples": trial.suggest_int(f"{prefix}min_child_samples", 5, 100, log=True),
            "subsample": trial.suggest_float(f"{prefix}subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float(f"{prefix}colsample_bytree", 0.3, 1.0),
            "reg_lambda": trial.suggest_float(f"{prefix}reg_lambda", 1e-3, 10.0, log=True),
        }

    def grid(self) -> dict[str, list[Any]]:
        return {
            "learning_rate": [0.03, 0.1],
            "num_leaves": [8, 31],
            "min_child_samples": [10, 40],
            "subsample": [0.8],
            "colsample_bytree": [0.5, 1.0],
            "reg_lambda": [0.1],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
        # subsample only acts with bagging_freq > 0; one thread per trial (trials run in parallel).
        # n_estimators is not searched: CV trains up to max_rounds with early stopping and the
        # final fit uses the trial's best round count.
        return cls(**params, subsample_freq=1, random_state=seed, n_jobs=1, verbosity=-1)

    def native_params(self, params: dict[str, Any], task: str, n_classes: int, seed: int) -> dict[str, Any]:
        """The same configuration for LightGBM's native API (its aliases accept the sklearn names)."""
        native = {k: v for k, v in params.items() if k != "n_estimators"}
        native.update(subsample_freq=1, seed=seed, num_threads=1, verbosity=-1, feature_pre_filter=False)
        if task == "regression":
            native["objective"] = "regression"
        elif n_classes == 2:
            native["objective"] = "binary"
        else:
            native.update(objective="multiclass", num_class=n_classes)
        return native


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
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
        return cls(**params, random_state=seed, n_jobs=1)


class LogisticRegressionFamily(ModelFamily):
    name = "logistic_regression"
    tasks = ("classification",)
    scale_numeric = True

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"C": trial.suggest_float(f"{prefix}C", 1e-4, 1e3, log=True)}

    def grid(self) -> dict[str, list[Any]]:
        return {"C": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]}

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        from sklearn.linear_model import LogisticRegression

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
        from sklearn.linear_model import Ridge

        return Ridge(**params, random_state=seed)


class TorchMLPFamily(ModelFamily):
    """A torch MLP (automl.nas.mlp); trained per epoch, so pruning counts epochs.

    The architecture is searched: depth, a width per layer, activation, normalization,
    dropout and residual skips (between layers of equal width).
    """

    name = "torch_mlp"
    tasks = ("classification", "regression")
    scale_numeric = True
    max_layers = 4

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        n_layers = trial.suggest_int(f"{prefix}n_layers", 1, self.max_layers)
        params: dict[str, Any] = {"n_layers": n_layers}
        for i in range(n_layers):
            params[f"width_{i}"] = trial.suggest_int(f"{prefix}width_{i}", 8, 256, log=True)
        params.update(
            activation=trial.suggest_categorical(f"{prefix}activation", ["relu", "gelu", "tanh"]),
            norm=trial.suggest_categorical(f"{prefix}norm", ["none", "batch", "layer"]),
            dropout=trial.suggest_float(f"{prefix}dropout", 0.0, 0.5),
            residual=trial.suggest_categorical(f"{prefix}residual", [False, True]),
            lr=trial.suggest_float(f"{prefix}lr", 1e-4, 3e-2, log=True),
            weight_decay=trial.suggest_float(f"{prefix}weight_decay", 1e-6, 1e-2, log=True),
            batch_size=trial.suggest_categorical(f"{prefix}batch_size", [32, 64, 128]),
        )
        return params

    def grid(self) -> dict[str, list[Any]]:
        return {
            "n_layers": [1, 2],
            "width_0": [32, 128],
            "width_1": [64],
            "activation": ["relu"],
            "norm": ["none"],
            "dropout": [0.1],
            "residual": [False],
            "lr": [1e-3, 1e-2],
            "weight_decay": [1e-5],
            "batch_size": [64],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        from automl.nas.mlp import TorchMLP

        p = dict(params)
        n_layers = int(p.pop("n_layers", 2))
        widths = tuple(int(p.pop(f"width_{i}", 64)) for i in range(self.max_layers))[:n_layers]
        return TorchMLP(task=task, seed=seed, widths=widths, **p)


class TorchCNNFamily(ModelFamily):
    """A small torch CNN (automl.nas.cnn) over pixel columns; ``image_shape`` comes from the dataset config."""

    name = "torch_cnn"
    tasks = ("classification",)
    scale_numeric = True
    max_blocks = 3

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        n_blocks = trial.suggest_int(f"{prefix}n_blocks", 1, self.max_blocks)
        params: dict[str, Any] = {"n_blocks": n_blocks}
        for i in range(n_blocks):
            params[f"channels_{i}"] = trial.suggest_int(f"{prefix}channels_{i}", 4, 64, log=True)
            params[f"kernel_{i}"] = trial.suggest_categorical(f"{prefix}kernel_{i}", [3, 5])
        params.update(
            pool=trial.suggest_categorical(f"{prefix}pool", ["max", "avg", "none"]),
            residual=trial.suggest_categorical(f"{prefix}residual", [False, True]),
            dropout=trial.suggest_float(f"{prefix}dropout", 0.0, 0.5),
            lr=trial.suggest_float(f"{prefix}lr", 3e-4, 3e-2, log=True),
            weight_decay=trial.suggest_float(f"{prefix}weight_decay", 1e-6, 1e-2, log=True),
            batch_size=trial.suggest_categorical(f"{prefix}batch_size", [32, 64, 128]),
        )
        return params

    def grid(self) -> dict[str, list[Any]]:
        return {
            "n_blocks": [1, 2],
            "channels_0": [8, 32],
            "kernel_0": [3],
            "channels_1": [32],
            "kernel_1": [3],
            "pool": ["max"],
            "residual": [False],
            "dropout": [0.1],
            "lr": [3e-3],
            "weight_decay": [1e-5],
            "batch_size": [64],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        from automl.nas.cnn import TorchCNN

        p = dict(params)
        n_blocks = int(p.pop("n_blocks", 2))
        channels = tuple(int(p.pop(f"channels_{i}", 16)) for i in range(self.max_blocks))[:n_blocks]
        kernels = tuple(int(p.pop(f"kernel_{i}", 3)) for i in range(self.max_blocks))[:n_blocks]
        return TorchCNN(task=task, seed=seed, channels=channels, kernels=kernels, **p)


FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        LightGBMFamily(),
        RandomForestFamily(),
        LogisticRegressionFamily(),
        RidgeFamily(),
        TorchMLPFamily(),
        TorchCNNFamily(),
    )
}
assert set(FAMILIES) == set(MODEL_FAMILIES), "automl.config.MODEL_FAMILIES and automl.spaces disagree"


class ModelSpace:
    """The search space over one or more model families."""

    def __init__(self, families: list[str]) -> None:
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown model space {unknown}; known: {sorted(FAMILIES)}")
        self.families = list(families)

    def _prefix(self, family: str) -> str:
        return f"{family}__" if len(self.families) > 1 else ""

    def suggest(self, trial: optuna.Trial) -> tuple[str, dict[str, Any]]:
        family = trial.suggest_categorical("model", self.families) if len(self.families) > 1 else self.families[0]
        return family, FAMILIES[family].suggest(trial, self._prefix(family))

    def from_params(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Recover (family, family params) from a finished trial's flat params."""
        family = params.get("model", self.families[0])
        prefix = self._prefix(family)
        return family, {k[len(prefix) :]: v for k, v in params.items() if k != "model" and k.startswith(prefix)}

    def grid(self) -> dict[str, list[Any]]:
        if len(self.families) != 1:
            raise ValueError("a grid needs exactly one model family")
        return FAMILIES[self.families[0]].grid()

    def pipeline(self, family: str, params: dict[str, Any], task: str, seed: int) -> Pipeline:
        return FAMILIES[family].pipeline(params, task, seed)


def fixed_params(config: StudyConfig, family: str) -> dict[str, Any]:
    """Parameters a family takes from the study config rather than from the search (a CNN's image shape)."""
    if family == "torch_cnn" and config.dataset.image_shape:
        return {"image_shape": tuple(config.dataset.image_shape)}
    return {}


def prepare_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Make object/category columns plain strings so the encoders see one dtype."""
    X = X.copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("string").astype(object).where(X[col].notna(), np.nan)
    return X
