"""LightGBM gradient-boosted trees; cross-validated in chunks of boosting rounds.

The K fold boosters are trained side by side in chunks of ``budget.report_every``
boosting rounds; after each chunk the mean validation score is reported at
step = rounds so far (the resource ASHA's rungs count). Training stops early when the
score has not improved for ``budget.early_stopping_rounds``; the trial's value is the
best mean score and its round count (``best_rounds``) is the final fit's ``n_estimators``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.preprocessing import LabelEncoder

from automl.config import StudyConfig
from automl.families.base import ModelFamily
from automl.families.cv import StepReporter, better, cv_splitter, measure_batch, measure_repeats
from automl.measure import lightgbm_costs
from automl.metrics import get_metric
from automl.metrics.scoring import score_predictions


class LightGBMFamily(ModelFamily):
    name = "lightgbm"
    tasks = ("classification", "regression")
    one_hot = False
    resource_unit = "boosting rounds"
    resource_rank = 2

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

    def final_params(self, config: StudyConfig, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        # the round count that early stopping chose under CV
        return {"n_estimators": int(trial.user_attrs.get("best_rounds", config.budget.max_rounds))}

    def first_rung(self, config: StudyConfig) -> int:
        return config.budget.report_every  # the first report

    def max_resource(self, config: StudyConfig) -> int:
        return config.budget.max_rounds

    def cross_validate(
        self,
        trial: optuna.Trial,
        config: StudyConfig,
        params: dict[str, Any],
        X: pd.DataFrame,
        y: pd.Series,
        reporter: StepReporter,
    ) -> float:
        import lightgbm as lgb

        b = config.budget
        maximize = config.metric_direction == "maximize"
        classes: np.ndarray | None = None
        labels: np.ndarray | None = None
        y_enc: np.ndarray = y.to_numpy()
        if config.task == "classification":
            enc = LabelEncoder().fit(y)
            y_enc = enc.transform(y)
            classes, labels = np.arange(len(enc.classes_)), enc.classes_
        native = self.native_params(params, config.task, 0 if classes is None else len(classes), config.seed)
        pre = self.pipeline(params, config.task, config.seed).named_steps["pre"]
        folds = []
        rows = []
        for tr, va in cv_splitter(config).split(X, y):
            rows.append(va)
            p = clone(pre).fit(X.iloc[tr])
            one = {"verbosity": -1, "num_threads": 1}  # all-core OpenMP stalls when the slots fill the cores
            train = lgb.Dataset(p.transform(X.iloc[tr]), y_enc[tr], params=one)
            # no built-in metric: the validation fold's predictions are kept up to date by LightGBM as trees
            # are added (eval_valid hands them to our metric), instead of predicting with every tree per report
            booster = lgb.Booster({**native, "metric": "None"}, train)
            X_va = p.transform(X.iloc[va])
            booster.add_valid(lgb.Dataset(X_va, y_enc[va], reference=train, params=one), "validation")
            folds.append((booster, X_va, y_enc[va]))
        binary_proba = get_metric(config.metric).classification

        def fold_score(pred: np.ndarray, y_va: np.ndarray) -> float:
            if binary_proba and pred.ndim == 1:
                pred = np.column_stack([1.0 - pred, pred])
            return score_predictions(config.metric, y_va, pred, classes)

        rounds, best, best_rounds = 0, None, 0
        while rounds < b.max_rounds:
            chunk = min(b.report_every, b.max_rounds - rounds)
            fold_scores = []
            for booster, _, y_va in folds:
                for _ in range(chunk):
                    booster.update()
                (result,) = booster.eval_valid(feval=lambda pred, _data, y_va=y_va: ("m", fold_score(pred, y_va), True))
                fold_scores.append(float(result[2]))
            rounds += chunk
            mean = float(np.mean(fold_scores))
            if best is None or better(mean, best, maximize):
                best, best_rounds = mean, rounds
            if reporter.wants_costs:  # trees grow with the rounds: measure the first fold's booster now
                batch = measure_batch(config, folds[0][1])
                reporter.measure(lightgbm_costs(folds[0][0], batch, measure_repeats(config, final=False)))
            reporter.report(rounds, mean, rounds * len(folds))
            if rounds - best_rounds >= b.early_stopping_rounds:
                break
        if reporter.wants_costs:
            booster, X_va, _ = folds[0]
            batch = measure_batch(config, X_va)
            reporter.measure(lightgbm_costs(booster, batch, measure_repeats(config), num_iteration=best_rounds))
        if reporter.oof is not None:  # the folds' predictions at the round the trial's score comes from
            for (booster, X_va, _), va in zip(folds, rows, strict=True):
                reporter.oof.put(va, booster.predict(X_va, num_iteration=best_rounds), labels)
        trial.set_user_attr("best_rounds", best_rounds)
        trial.set_user_attr("train_steps", rounds * len(folds))
        assert best is not None
        return best
