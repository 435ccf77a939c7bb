"""The median stopping rule."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from automl.pruning.base import CentralPruner, Decision, TrialCurve, is_nan


class MedianPruner(CentralPruner):
    """Stop a trial whose latest value is worse than the median of the completed
    trials' values at the same step (after ``n_startup_trials`` completed trials
    and ``n_warmup_steps`` steps), like Optuna's MedianPruner."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def judge(self, trial: TrialCurve, trials: Sequence[TrialCurve], maximize: bool) -> Decision:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return Decision(False)
        value = trial.values[step]
        if is_nan(value):
            return Decision(True, reason=f"NaN at step {step}")
        complete = [t for t in trials if t.state == "COMPLETE" and t.number != trial.number]
        if len(complete) < self.n_startup_trials:
            return Decision(False)
        others = [t.values[step] for t in complete if step in t.values and not is_nan(t.values[step])]
        if not others:
            return Decision(False)
        median = statistics.median(others)
        worse = value < median if maximize else value > median
        return Decision(worse, reason=f"step {step}: {value:.6g} worse than median {median:.6g}" if worse else "")
