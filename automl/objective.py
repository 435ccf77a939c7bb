"""Evaluate one trial's configuration with K-fold cross-validation.

An intermediate value (the mean score of the folds so far) is reported after
each fold, so a pruner can stop a poor trial before it uses its whole budget.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from automl.config import StudyConfig
from automl.metrics import score
from automl.spaces import ModelSpace, prepare_frame


def cv_splitter(config: StudyConfig) -> KFold | StratifiedKFold:
    k = config.budget.cv_folds
    if config.task == "classification":
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed)
    return KFold(n_splits=k, shuffle=True, random_state=config.seed)


def evaluate_trial(trial: optuna.Trial, config: StudyConfig, X: pd.DataFrame, y: pd.Series) -> float:
    """Sample a configuration, cross-validate it, report per fold; return the mean score.

    Raises ``optuna.TrialPruned`` when the study's pruner stops the trial.
    """
    space = ModelSpace(config.model_space)
    family, params = space.suggest(trial)
    pipe = space.pipeline(family, params, config.task, config.seed)
    X = prepare_frame(X)
    scores: list[float] = []
    started = time.perf_counter()
    for fold, (tr, va) in enumerate(cv_splitter(config).split(X, y), start=1):
        model = clone(pipe).fit(X.iloc[tr], y.iloc[tr])
        scores.append(score(config.metric, model, X.iloc[va], y.iloc[va]))
        mean = sum(scores) / len(scores)
        trial.report(mean, step=fold)
        if trial.should_prune():
            trial.set_user_attr("pruned_at_step", fold)
            trial.set_user_attr("train_seconds", time.perf_counter() - started)
            raise optuna.TrialPruned(f"pruned after fold {fold} with mean {mean:.5f}")
    trial.set_user_attr("fold_scores", scores)
    trial.set_user_attr("train_seconds", time.perf_counter() - started)
    return sum(scores) / len(scores)


def fit_final(config: StudyConfig, params: dict[str, Any], X: pd.DataFrame, y: pd.Series) -> Any:
    """Fit a finished trial's configuration on all of (X, y)."""
    space = ModelSpace(config.model_space)
    family, fam_params = space.from_params(params)
    return space.pipeline(family, fam_params, config.task, config.seed).fit(prepare_frame(X), y)
