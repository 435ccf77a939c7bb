"""What every family's cross-validation shares: the folds, the reporter protocol, cost-measure settings.

Intermediate values are reported so a pruner can stop a poor trial early; each family
chooses its step (boosting rounds, epochs or folds: ``ModelFamily.resource_unit``).
Multi-objective studies also measure the model's costs (automl.measure) on the first
fold's model and hand them to the reporter with each report.
"""

from __future__ import annotations

from typing import Any, Protocol

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


class StepReporter(Protocol):
    """What a family's cross-validation reports to (``automl.objective.Reporter``)."""

    @property
    def wants_costs(self) -> bool:
        """Whether the study measures the model's costs (multi-objective)."""

    def report(self, step: int, value: float, steps_used: int) -> None:
        """Report the mean score at ``step``; raises ``optuna.TrialPruned`` when the trial must stop."""

    def measure(self, costs: dict[str, float]) -> None:
        """Record the model's latest measured costs."""
