"""Asynchronous successive halving (ASHA) and a Hyperband of ASHA brackets."""

from __future__ import annotations

from collections.abc import Sequence

from automl.pruning.base import CentralPruner, Decision, TrialCurve, is_nan, promotable


class ASHAPruner(CentralPruner):
    """Rungs at ``min_resource * reduction_factor**k``.

    When a trial reaches a rung it continues only if its value there is in the
    top ``1/reduction_factor`` of all trials that reached that rung. A rung is
    judged once ``min_trials_at_rung`` trials reached it (a grace period for the
    first trials); until then the trial goes on and is judged when enough arrive.
    A trial that reports fewer steps than the first rung is never stopped.

    ``rung_value``: ``"current"`` compares the value reported on reaching the rung (as
    Optuna's SuccessiveHalvingPruner does); ``"best"`` compares the best value the trial
    reported up to the rung, which is less swayed by one noisy report.
    """

    def __init__(
        self, min_resource: int = 1, reduction_factor: int = 3, min_trials_at_rung: int = 1, rung_value: str = "current"
    ) -> None:
        if min_resource < 1 or reduction_factor < 2 or min_trials_at_rung < 1:
            raise ValueError("need min_resource >= 1, reduction_factor >= 2, min_trials_at_rung >= 1")
        if rung_value not in ("current", "best"):
            raise ValueError("rung_value must be 'current' or 'best'")
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_trials_at_rung = min_trials_at_rung
        self.rung_value = rung_value

    def _value(self, t: TrialCurve, step: int, maximize: bool) -> float | None:
        return t.value_at(step) if self.rung_value == "current" else t.best_at(step, maximize)

    def rung_step(self, rung: int) -> int:
        return self.min_resource * self.reduction_factor**rung

    def pending(self, trial: TrialCurve) -> bool:
        """True when the trial has reached a rung it was not judged at yet."""
        step, rung = trial.last_step, 0
        while step is not None and self.rung_step(rung) <= step:
            if rung not in trial.passed:
                return True
            rung += 1
        return False

    def _peers(self, trial: TrialCurve, trials: Sequence[TrialCurve]) -> list[TrialCurve]:
        return [t for t in trials if t.number != trial.number]

    def judge(self, trial: TrialCurve, trials: Sequence[TrialCurve], maximize: bool) -> Decision:
        step = trial.last_step
        passed: list[int] = []
        rung = 0
        while step is not None and self.rung_step(rung) <= step:
            if rung in trial.passed:
                rung += 1
                continue
            at = self.rung_step(rung)
            value = self._value(trial, at, maximize)
            assert value is not None
            if is_nan(value):
                return Decision(True, tuple(passed), f"NaN at rung {rung} (step {at})")
            competing = [
                v
                for t in self._peers(trial, trials)
                if (v := self._value(t, at, maximize)) is not None and not is_nan(v)
            ]
            competing.append(value)
            if len(competing) < self.min_trials_at_rung:
                break  # not judged yet: too few trials reached this rung
            if not promotable(value, competing, self.reduction_factor, maximize):
                return Decision(
                    True,
                    tuple(passed),
                    f"rung {rung} (step {at}): {value:.6g} not in top 1/{self.reduction_factor} of {len(competing)}",
                )
            passed.append(rung)
            rung += 1
        return Decision(False, tuple(passed))


class HyperbandPruner(CentralPruner):
    """Hyperband as brackets of ASHA with growing first rungs; trial n runs in bracket n mod s."""

    def __init__(
        self,
        min_resource: int,
        max_resource: int,
        reduction_factor: int = 3,
        min_trials_at_rung: int = 1,
        rung_value: str = "current",
    ) -> None:
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.reduction_factor = reduction_factor
        n = 1
        while min_resource * reduction_factor**n <= max_resource:
            n += 1
        self.brackets = [
            ASHAPruner(min_resource * reduction_factor**b, reduction_factor, min_trials_at_rung, rung_value)
            for b in range(n)
        ]

    def bracket_of(self, number: int) -> int:
        return number % len(self.brackets)

    def pending(self, trial: TrialCurve) -> bool:
        return self.brackets[self.bracket_of(trial.number)].pending(trial)

    def judge(self, trial: TrialCurve, trials: Sequence[TrialCurve], maximize: bool) -> Decision:
        b = self.bracket_of(trial.number)
        same = [t for t in trials if self.bracket_of(t.number) == b]
        return self.brackets[b].judge(trial, same, maximize)
