"""Cost-aware choice of the model family: FLAML's estimated cost for improvement (ECI) in front of a sampler.

Why: with more than one family the sampler picks ``model`` like any categorical parameter. TPE
ranks pruned trials below every complete one, so a family whose trials ASHA stops early (LightGBM,
judged at 10 rounds) looks bad to it however cheap those trials were, and it ignores cost: on
diamonds (43,152 rows; quality benchmark part 4, docs/benchmarks.md) two of five seeds spent the
budget on random forests of tens of seconds each, 23 trials in 120 s, and their best single trial
stayed behind LightGBM's defaults (holdout RMSE 543.7 and 542.1 vs 537.9). FLAML (Wang et al.,
MLSys 2021, sec. 3.2; ``flaml.automl.AutoML._select_estimator``) chooses the learner with a
probability proportional to ``1 / ECI``, the estimated time for that learner to improve on the best
result; this module is that rule, over the trials already in the study, so it works across workers
without any state of its own. Written here because Optuna has no cost-aware choice between
conditional sub-spaces and FLAML's lives inside its own search loop.

The rule (:func:`estimated_costs`; time is each trial's wall seconds, start to end, a running trial
counting its time so far, so parallel workers do not all start the same expensive family):

- a family's events in the order its trials ended; ``T``: all the time its trials took; ``t1``: the
  time spent on it when its best complete trial ended; ``t0``: the same at its previous best (0 for
  its first); ``ECI = max(t1 - t0, T - t1)`` (the time its last improvement took, or the time since
  then if longer);
- if its best loss is ``gap > 0`` behind the study's best, with ``speed`` = its last improvement over
  ``T - t0`` (its first improvement counts from the study's worst complete loss):
  ``ECI = max(ECI, 2 * gap / speed)``, FLAML's estimate of the time to close the gap;
- a family with no finished trial is tried first (in ``model_space`` order; one already running
  waits for its result); one whose finished trials all were pruned or failed has ``ECI = T``.

Not the default (``family_choice: sampler`` is): on diamonds, selection seeds 0-4 at 120 s end to end
(docs/benchmarks.md, "Family choice by cost"), it ran 27-106 trials where the sampler's choice ran 17-136
and ended every run within its budget, but its mean holdout RMSE was 535.9 against 534.8 (best single
trials 546.8 against 544.4), better on 1 seed of 5.

Losses are values with the study's direction made "lower is better"; pruned and failed trials count
their time, never their values (a pruned trial's last report is a score at a few rounds, not a
result). Only ``model`` is chosen here: the family's own parameters come from the wrapped sampler.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.families.space import FAMILY_PARAM

_TINY = 1e-9


@dataclass(frozen=True)
class Event:
    """One trial of a family: its time so far and, if it completed, its loss (lower is better)."""

    family: str
    seconds: float
    loss: float | None = None
    running: bool = False


def estimated_costs(events: Iterable[Event], families: Sequence[str]) -> dict[str, float | None]:
    """Each family's ECI in seconds; ``None`` for a family without a finished trial.

    ``events`` in the order their trials ended (running ones anywhere: they only add time).
    """
    per: dict[str, list[Event]] = {f: [] for f in families}
    for e in events:
        if e.family in per:
            per[e.family].append(e)
    losses = [e.loss for evs in per.values() for e in evs if e.loss is not None and math.isfinite(e.loss)]
    global_best = min(losses, default=None)
    worst = max(losses, default=None)
    out: dict[str, float | None] = {}
    for family, evs in per.items():
        finished = [e for e in evs if not e.running]
        if not finished:
            out[family] = None
            continue
        total = sum(e.seconds for e in evs)
        spent = 0.0
        best = old = None
        t1 = t0 = 0.0
        for e in finished:
            spent += e.seconds
            if e.loss is not None and math.isfinite(e.loss) and (best is None or e.loss < best):
                old, t0 = best, t1
                best, t1 = e.loss, spent
        if best is None or global_best is None or worst is None:
            out[family] = max(total, _TINY)
            continue
        eci = max(t1 - t0, total - t1, _TINY)
        gap = best - global_best
        if gap > 0:
            delta = (worst if old is None else old) - best
            speed = delta / max(total - t0, _TINY)
            if speed > 0:
                eci = max(eci, 2 * gap / speed)
        out[family] = eci
    return out


def choose_family(events: Sequence[Event], families: Sequence[str], rng: np.random.RandomState) -> str:
    """The next trial's family: the first untried (and not running), else drawn with P proportional to 1/ECI."""
    eci = estimated_costs(events, families)
    running = {e.family for e in events if e.running}
    untried = [f for f in families if eci[f] is None and f not in running]
    if untried:
        return untried[0]
    tried = [f for f in families if eci[f] is not None]
    if not tried:  # every family has only running trials: no information yet
        return str(families[rng.randint(len(families))])
    inv = np.array([1.0 / float(eci[f]) for f in tried])  # type: ignore[arg-type]
    return str(tried[int(rng.choice(len(tried), p=inv / inv.sum()))])


def events_of(trials: Iterable[FrozenTrial], minimize: bool) -> list[Event]:
    """The study's trials with a family as events, finished ones in the order they ended."""
    finished: list[tuple[dt.datetime, Event]] = []
    running: list[Event] = []
    for t in trials:
        family = t.params.get(FAMILY_PARAM)
        if family is None or t.datetime_start is None:
            continue
        if t.state == TrialState.RUNNING:
            now = dt.datetime.now(t.datetime_start.tzinfo)  # Optuna's are naive local time
            running.append(Event(family, max((now - t.datetime_start).total_seconds(), 0.0), running=True))
            continue
        if not t.state.is_finished() or t.datetime_complete is None:
            continue
        loss = None
        if t.state == TrialState.COMPLETE and t.value is not None:
            loss = float(t.value) if minimize else -float(t.value)
        seconds = max((t.datetime_complete - t.datetime_start).total_seconds(), 0.0)
        finished.append((t.datetime_complete, Event(family, seconds, loss)))
    finished.sort(key=lambda p: p[0])
    return [e for _, e in finished] + running


class CostAwareFamilySampler(optuna.samplers.BaseSampler):
    """``model`` chosen by :func:`choose_family`; every other parameter by ``base``.

    ``base`` may sample ``model`` relatively (TPE with ``group=True`` does); that value is dropped so the
    choice comes here. Single-objective studies only (the rule needs one best loss).
    """

    def __init__(self, base: optuna.samplers.BaseSampler, seed: int | None = None) -> None:
        self.base = base
        self._rng = np.random.RandomState(seed)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, optuna.distributions.BaseDistribution]:
        space = self.base.infer_relative_search_space(study, trial)
        return {k: v for k, v in space.items() if k != FAMILY_PARAM}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, optuna.distributions.BaseDistribution]
    ) -> dict[str, Any]:
        params = self.base.sample_relative(study, trial, search_space)
        return {k: v for k, v in params.items() if k != FAMILY_PARAM}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: optuna.distributions.BaseDistribution,
    ) -> Any:
        if param_name != FAMILY_PARAM or not isinstance(
            param_distribution, optuna.distributions.CategoricalDistribution
        ):
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        families = [str(c) for c in param_distribution.choices]
        minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
        # the trial being sampled has no family yet, so events_of leaves it out
        return choose_family(events_of(study.get_trials(deepcopy=False), minimize), families, self._rng)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._rng = np.random.RandomState()
