"""The pure pruning rules: given trials' intermediate values, which trial must stop.

No storage, no Optuna objects: a rule sees :class:`TrialCurve` values only, so it
is the same function whether the pruning sensor applies it centrally or a worker
applies it at its own report.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrialCurve:
    """What a rule knows of a trial.

    ``passed`` holds the rung indices at which the trial was already judged and
    promoted (a decision is made once per rung, at arrival, as in ASHA).
    """

    number: int
    values: Mapping[int, float]
    state: str = "RUNNING"  # RUNNING, COMPLETE, PRUNED, FAIL
    passed: frozenset[int] = field(default_factory=frozenset)

    @property
    def last_step(self) -> int | None:
        return max(self.values) if self.values else None

    def value_at(self, step: int) -> float | None:
        """The value at the first reported step at or after ``step`` (where the trial met the rung)."""
        later = [s for s in self.values if s >= step]
        return self.values[min(later)] if later else None

    def best_at(self, step: int, maximize: bool) -> float | None:
        """The best value reported up to the point where the trial met ``step`` (NaN-free)."""
        later = [s for s in self.values if s >= step]
        if not later:
            return None
        upto = [v for s, v in self.values.items() if s <= min(later) and not is_nan(v)]
        if not upto:
            return float("nan")
        return max(upto) if maximize else min(upto)


@dataclass(frozen=True)
class Decision:
    stop: bool
    passed: tuple[int, ...] = ()
    reason: str = ""


class CentralPruner(ABC):
    """A pruning rule over trial curves."""

    @abstractmethod
    def judge(self, trial: TrialCurve, trials: Sequence[TrialCurve], maximize: bool) -> Decision:
        """Decide for one running trial; ``trials`` are all trials of the study (it may be among them)."""

    def pending(self, trial: TrialCurve) -> bool:
        """Whether the trial's latest report may need a decision (cheap; no other trial is read).

        A worker calls this at every report and reads the whole study only when it is True.
        """
        return trial.last_step is not None

    def prune(self, trial: TrialCurve, trials: Sequence[TrialCurve], maximize: bool) -> bool:
        return self.judge(trial, trials, maximize).stop

    def decide(self, trials: Sequence[TrialCurve], maximize: bool) -> dict[int, Decision]:
        """Decisions for every running trial."""
        return {t.number: self.judge(t, trials, maximize) for t in trials if t.state == "RUNNING"}


def promotable(value: float, competing: Sequence[float], reduction_factor: int, maximize: bool) -> bool:
    """Whether ``value`` is in the top 1/eta of ``competing`` (which includes it).

    With fewer than eta values, only the best one continues (as Optuna's
    SuccessiveHalvingPruner does: it cannot pause a trial to wait for more).
    Ties with the threshold continue.
    """
    k = max(len(competing) // reduction_factor, 1)
    ordered = sorted(competing, reverse=maximize)
    threshold = ordered[k - 1]
    return value >= threshold if maximize else value <= threshold


def is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
