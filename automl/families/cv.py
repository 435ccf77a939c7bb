"""What every family's cross-validation shares: the folds, the reporter protocol, cost-measure settings.

Intermediate values are reported so a pruner can stop a poor trial early; each family
chooses its step (boosting rounds, epochs or folds: ``ModelFamily.resource_unit``).
When the study builds an ensemble (``ensemble.size`` > 1) the reporter carries an
:class:`OutOfFold` and each family puts every validation fold's predictions there (at the
round or epoch the trial's score comes from): the ensemble's candidates (automl.ensemble).
Multi-objective studies also measure the model's costs (automl.measure) on the first
fold's model and hand them to the reporter with each report.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from automl.config import StudyConfig
from automl.measure import latency_batch


def cv_splitter(config: StudyConfig) -> KFold | StratifiedKFold:
    k = config.budget.cv_folds
    if config.task == "classification":
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed)
    return KFold(n_splits=k, shuffle=True, random_state=config.seed)


def better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def measure_batch(config: StudyConfig, X: Any) -> Any:
    """The batch a model's latency is measured on."""
    mo = config.multi_objective
    return latency_batch(X, mo.latency_batch_size if mo else 256, config.seed)


def measure_repeats(config: StudyConfig, final: bool = True) -> int:
    """Timed predictions per latency measure (fewer for the intermediate ones)."""
    mo = config.multi_objective
    return (mo.latency_repeats if mo else 15) if final else 3


class OutOfFold:
    """One trial's out-of-fold predictions: each training row predicted by the fold model that did not see it.

    Classification: class probabilities (n, k) with the columns in ``np.unique(y)`` order (a fold model's
    classes are mapped onto them); regression: predicted values (n,). Rows no fold predicted stay NaN.
    """

    def __init__(self, y: Any, task: str) -> None:
        n = len(y)
        self.classes: np.ndarray | None = np.unique(np.asarray(y)) if task == "classification" else None
        shape = (n,) if self.classes is None else (n, len(self.classes))
        self.pred = np.full(shape, np.nan)

    def put(self, rows: np.ndarray, pred: Any, classes: Any = None) -> None:
        """The predictions of the rows ``rows`` (positions); ``classes``: the fold model's column labels."""
        values = np.asarray(pred, dtype=float)
        if self.classes is None:
            self.pred[rows] = values.reshape(len(rows))
            return
        if values.ndim == 1:  # a binary model's probability of its second class
            values = np.column_stack([1.0 - values, values])
        index = {c: i for i, c in enumerate(self.classes.tolist())}
        block = np.zeros((len(rows), len(self.classes)))
        block[:, [index[c] for c in np.asarray(classes).tolist()]] = values
        self.pred[rows] = block


class StepReporter(Protocol):
    """What a family's cross-validation reports to (``automl.objective.Reporter``)."""

    @property
    def wants_costs(self) -> bool:
        """Whether the study measures the model's costs (multi-objective)."""

    @property
    def oof(self) -> OutOfFold | None:
        """Where the folds' predictions go (None: the study keeps none)."""

    def report(self, step: int, value: float, steps_used: int) -> None:
        """Report the mean score at ``step``; raises ``optuna.TrialPruned`` when the trial must stop."""

    def measure(self, costs: dict[str, float]) -> None:
        """Record the model's latest measured costs."""
