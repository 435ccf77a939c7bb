"""The abstract model family: its search space, its estimator and how a trial of it is evaluated."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from automl.config import StudyConfig
from automl.families.cv import StepReporter, cv_splitter, measure_batch, measure_repeats
from automl.measure import model_costs
from automl.metrics import get_metric
from automl.metrics.scoring import score_predictions


class ModelFamily(ABC):
    """A kind of model a study may search (registered in ``automl.families.registry``).

    The default evaluation fits the pipeline fold by fold and reports after each fold
    (step = folds so far); families that train incrementally override
    :meth:`cross_validate` and report per boosting round or per epoch.
    """

    name: str
    tasks: tuple[str, ...]
    scale_numeric: bool = False
    one_hot: bool = True
    #: what one step of this family's reports counts
    resource_unit: str = "folds"
    #: in a study of several families, the one with the highest rank sets the pruning rungs' unit
    resource_rank: int = 0

    @abstractmethod
    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        """Sample this family's hyperparameters (names without the prefix)."""

    @abstractmethod
    def grid(self) -> dict[str, list[Any]]:
        """A small grid over the same parameters, for the grid sampler."""

    @abstractmethod
    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        """An unfitted estimator."""

    def pipeline(self, params: dict[str, Any], task: str, seed: int) -> Pipeline:
        """Preprocessing (fitted inside each training fold) followed by the estimator."""
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

    # ---- configuration taken from the study ------------------------------
    def fixed_params(self, config: StudyConfig) -> dict[str, Any]:
        """Parameters taken from the study config rather than from the search."""
        return {}

    def final_params(self, config: StudyConfig, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        """Parameters the refit on all rows adds to the trial's (e.g. the round count CV chose)."""
        return {}

    # ---- pruning resources -------------------------------------------------
    def first_rung(self, config: StudyConfig) -> int:
        """The default first pruning rung, in this family's steps."""
        return 1

    def max_resource(self, config: StudyConfig) -> int:
        """The largest step a trial of this family reports."""
        return config.budget.cv_folds

    # ---- evaluation -----------------------------------------------------------
    def costs(self, model: Any, batch: Any, repeats: int) -> dict[str, float]:
        """Measured costs (latency, memory, parameters) of a fitted pipeline of this family."""
        return model_costs(model, batch, repeats)

    def cross_validate(
        self,
        trial: optuna.Trial,
        config: StudyConfig,
        params: dict[str, Any],
        X: pd.DataFrame,
        y: pd.Series,
        reporter: StepReporter,
    ) -> float:
        """K-fold CV with one report per fold (the mean of the folds so far); returns the mean score."""
        pipe = self.pipeline(params, config.task, config.seed)
        scores: list[float] = []
        proba = get_metric(config.metric).classification
        for fold, (tr, va) in enumerate(cv_splitter(config).split(X, y), start=1):
            model = clone(pipe).fit(X.iloc[tr], y.iloc[tr])
            pred = model.predict_proba(X.iloc[va]) if proba else model.predict(X.iloc[va])
            classes = model.classes_ if proba else None
            scores.append(score_predictions(config.metric, y.iloc[va], pred, classes))
            if reporter.oof is not None:
                reporter.oof.put(va, pred, classes)
            mean = float(np.mean(scores))
            if fold == 1 and reporter.wants_costs:
                reporter.measure(self.costs(model, measure_batch(config, X.iloc[va]), measure_repeats(config)))
            reporter.report(fold, mean, fold)
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("train_steps", len(scores))
        return float(np.mean(scores))
