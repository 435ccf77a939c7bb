"""What the torch families share: epoch-wise cross-validation and the epoch resource.

The K fold networks train side by side one epoch at a time; the mean validation score
is reported at step = epoch, with early stopping on epochs. The best epoch count
(``best_epochs``) is the final fit's ``epochs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone

from automl.config import StudyConfig
from automl.families.base import ModelFamily
from automl.families.cv import StepReporter, better, cv_splitter, measure_batch, measure_repeats
from automl.families.space import get_family
from automl.metrics.scoring import score_predictions


class TorchFamily(ModelFamily):
    """A family of automl.nas torch estimators (``iter_fit`` trains one epoch per step)."""

    scale_numeric = True
    resource_unit = "epochs"
    resource_rank = 1

    def final_params(self, config: StudyConfig, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        return {"epochs": int(trial.user_attrs.get("best_epochs", config.budget.max_epochs))}

    def first_rung(self, config: StudyConfig) -> int:
        if all(get_family(f).resource_unit == self.resource_unit for f in config.model_space):
            # a net's first epochs rank it by its learning rate, not by where it ends (benchmarks.pruning,
            # digits: the final best trial ranked 21st of 40 after one epoch): judge first at max_epochs / eta
            return max(1, config.budget.max_epochs // config.pruning.reduction_factor)
        return 1

    def max_resource(self, config: StudyConfig) -> int:
        return config.budget.max_epochs

    def cross_validate(
        self,
        trial: optuna.Trial,
        config: StudyConfig,
        params: dict[str, Any],
        X: pd.DataFrame,
        y: pd.Series,
        reporter: StepReporter,
    ) -> float:
        b = config.budget
        maximize = config.metric_direction == "maximize"
        pipe = self.pipeline({**params, "epochs": b.max_epochs}, config.task, config.seed)
        folds = []
        rows = []
        for tr, va in cv_splitter(config).split(X, y):
            rows.append(va)
            pre = clone(pipe.named_steps["pre"]).fit(X.iloc[tr])
            net = clone(pipe.named_steps["model"])
            folds.append(
                (
                    net,
                    net.iter_fit(pre.transform(X.iloc[tr]), y.iloc[tr].to_numpy()),
                    pre.transform(X.iloc[va]),
                    y.iloc[va].to_numpy(),
                )
            )
        best, best_epoch, epoch = None, 0, 0
        best_preds: list[tuple[Any, Any]] = []  # the folds' predictions at the best epoch (for the ensemble)
        for epoch in range(1, b.max_epochs + 1):
            fold_scores = []
            preds = []
            for net, steps, X_va, y_va in folds:
                next(steps)
                raw = net.predict_proba(X_va)
                classes = net.classes_ if config.task == "classification" else None
                preds.append((raw, classes))
                fold_scores.append(score_predictions(config.metric, y_va, raw, classes))
            mean = float(np.mean(fold_scores))
            if not np.isfinite(mean):
                mean = float("nan")
            elif best is None or better(mean, best, maximize):
                best, best_epoch, best_preds = mean, epoch, preds
            if epoch == 1 and reporter.wants_costs:  # the architecture fixes the costs: measure once
                net, _, X_va, _ = folds[0]
                reporter.measure(net.measure(measure_batch(config, X_va), measure_repeats(config)))
            reporter.report(epoch, mean, epoch * len(folds))
            if epoch - best_epoch >= b.early_stopping_epochs:
                break
        if best is None:
            raise ValueError("the network's validation score was never finite")
        if reporter.oof is not None:
            for (raw, classes), va in zip(best_preds, rows, strict=True):
                reporter.oof.put(va, raw, classes)
        trial.set_user_attr("best_epochs", best_epoch)
        trial.set_user_attr("train_steps", epoch * len(folds))
        return best
