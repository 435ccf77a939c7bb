"""Multi-objective ASHA: successive halving where a rung ranks vectors, not numbers.

Optuna's pruners are single-objective (optuna issue 3450). Following MO-ASHA
(Schmucker et al., 2021), at each rung the trials that reached it are ordered by
non-dominated sorting (front index), ties within a front broken by NSGA-II's
crowding distance; a trial continues if it is in the top ``1/reduction_factor``
of that order (ties with the threshold continue). A trial's vector at a step is
(metric so far, measured costs...), one entry per study objective.

Constraints on cost objectives (e.g. ``latency_ms <= 5``) are checked at every
rung too: a trial whose architecture already violates one can never become
feasible and is stopped at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from automl.multiobjective.pareto import crowding_distance, non_dominated_ranks
from automl.pruning.base import Decision


@dataclass(frozen=True)
class VectorCurve:
    """A multi-objective trial's reports: step -> one value per objective."""

    number: int
    values: Mapping[int, tuple[float, ...]]
    state: str = "RUNNING"
    passed: frozenset[int] = field(default_factory=frozenset)

    @property
    def last_step(self) -> int | None:
        return max(self.values) if self.values else None

    def value_at(self, step: int) -> tuple[float, ...] | None:
        """The vector at the first reported step at or after ``step``."""
        later = [s for s in self.values if s >= step]
        return tuple(self.values[min(later)]) if later else None


def mo_promotable(
    index: int, points: Sequence[Sequence[float]], reduction_factor: int, maximize: Sequence[bool]
) -> bool:
    """Whether ``points[index]`` is in the top 1/eta of ``points`` by (front, -crowding distance).

    With fewer than eta points only the first of that order continues, as in single-objective
    ASHA; every point tied with the threshold continues (all extremes of the first front do).
    """
    arr = np.asarray(points, dtype=float)
    ranks = non_dominated_ranks(arr, maximize)
    crowd = np.zeros(len(arr))
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        crowd[members] = crowding_distance(arr[members], maximize)
    order = sorted(range(len(arr)), key=lambda i: (ranks[i], -crowd[i]))
    k = max(len(arr) // reduction_factor, 1)
    t = order[k - 1]
    return bool(ranks[index] < ranks[t] or (ranks[index] == ranks[t] and crowd[index] >= crowd[t]))


class MOASHAPruner:
    """Rungs at ``min_resource * reduction_factor**k``; see the module docstring.

    ``limits`` maps an objective index to (``'<='`` or ``'>='``, bound): hard constraints on
    costs that do not change as a trial trains further.
    """

    def __init__(
        self,
        min_resource: int = 1,
        reduction_factor: int = 3,
        min_trials_at_rung: int = 1,
        limits: Mapping[int, tuple[str, float]] | None = None,
    ) -> None:
        if min_resource < 1 or reduction_factor < 2 or min_trials_at_rung < 1:
            raise ValueError("need min_resource >= 1, reduction_factor >= 2, min_trials_at_rung >= 1")
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_trials_at_rung = min_trials_at_rung
        self.limits = dict(limits or {})

    def rung_step(self, rung: int) -> int:
        return self.min_resource * self.reduction_factor**rung

    def pending(self, trial: VectorCurve) -> bool:
        """True when the trial reached a rung it was not judged at yet (or breaks a limit)."""
        step, rung = trial.last_step, 0
        if step is not None and self._violation(trial.values[step]):
            return True
        while step is not None and self.rung_step(rung) <= step:
            if rung not in trial.passed:
                return True
            rung += 1
        return False

    def _violation(self, vector: Sequence[float]) -> str | None:
        for i, (op, bound) in self.limits.items():
            v = vector[i]
            if (op == "<=" and v > bound) or (op == ">=" and v < bound):
                return f"objective {i} = {v:.6g} breaks {op} {bound:g}"
        return None

    def judge(self, trial: VectorCurve, trials: Sequence[VectorCurve], maximize: Sequence[bool]) -> Decision:
        step = trial.last_step
        if step is None:
            return Decision(False)
        violation = self._violation(trial.values[step])
        if violation:
            return Decision(True, (), f"infeasible at step {step}: {violation}")
        passed: list[int] = []
        rung = 0
        while self.rung_step(rung) <= step:
            if rung in trial.passed:
                rung += 1
                continue
            at = self.rung_step(rung)
            vector = trial.value_at(at)
            assert vector is not None
            if any(math.isnan(v) for v in vector):
                return Decision(True, tuple(passed), f"NaN at rung {rung} (step {at})")
            competing = [
                v
                for t in trials
                if t.number != trial.number and (v := t.value_at(at)) is not None and not any(math.isnan(x) for x in v)
            ]
            if len(competing) + 1 < self.min_trials_at_rung:
                break  # not judged yet: too few trials reached this rung
            if not mo_promotable(len(competing), [*competing, vector], self.reduction_factor, maximize):
                return Decision(
                    True,
                    tuple(passed),
                    f"rung {rung} (step {at}): not in the top 1/{self.reduction_factor} of {len(competing) + 1} "
                    "by non-dominated sorting",
                )
            passed.append(rung)
            rung += 1
        return Decision(False, tuple(passed))
