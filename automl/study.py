"""The search controller's memory: the Optuna study in a shared storage (:mod:`automl.storage`).

Workers are stateless: they rebuild sampler and pruner from the study config
(stored on the study), ask for a trial, train, report, tell.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.config import StudyConfig, parse_config
from automl.multiobjective.study import feasible_complete
from automl.pruning.control import make_worker_pruner, retried_numbers
from automl.redact import redact
from automl.samplers import make_sampler
from automl.storage import ORPHAN_KEY, StorageError, get_storage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

# heartbeat_interval and TPE's group option are marked experimental; we use them knowingly
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


class StudyMismatch(ValueError):
    """A run's study exists but was made from other data: its trials must not be reused."""


def create_or_open(config: StudyConfig, study_name: str, data_fingerprint: str | None = None) -> optuna.Study:
    """Create the study, or reopen it on a retry / re-run (idempotent).

    ``data_fingerprint``: the training data's (``load_data``); a study reopened with other data
    stops with :class:`StudyMismatch` instead of refitting its old trials' best on new rows.
    """
    storage = get_storage(config.storage_url)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        directions=list(config.directions),
        load_if_exists=True,
    )
    attrs = study.user_attrs
    stored = attrs.get("data_fingerprint")
    if data_fingerprint and stored and stored != data_fingerprint:
        raise StudyMismatch(
            f"study {study_name} was created from other data (fingerprint {stored}, now {data_fingerprint}): "
            "the data changed since this run started; trigger a new run instead of re-running this one"
        )
    if "config" not in attrs:
        now = time.time()
        if data_fingerprint:
            study.set_user_attr("data_fingerprint", data_fingerprint)
        study.set_user_attr("config", config.model_dump(mode="json"))
        study.set_user_attr("created_at", now)
        if config.budget.timeout_s:
            study.set_user_attr("deadline", now + config.budget.timeout_s)
    return study


def open_study(config: StudyConfig, study_name: str, seed_offset: int = 0) -> optuna.Study:
    p = config.pruning
    storage = get_storage(config.storage_url, heartbeat=(p.heartbeat_interval_s, p.stale_after_s))
    try:
        return optuna.load_study(
            study_name=study_name,
            storage=storage,
            sampler=make_sampler(config, seed_offset),
            pruner=make_worker_pruner(config),
        )
    except KeyError:
        raise StorageError(f"study {study_name!r} does not exist in {redact(config.storage_url)}") from None


def study_config(study: optuna.Study) -> StudyConfig:
    return parse_config(study.user_attrs["config"], source=f"study {study.study_name}")


@dataclass(frozen=True)
class Progress:
    total: int
    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    best_value: float | None
    best_trial: int | None

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    def line(self) -> str:
        best = "none yet" if self.best_value is None else f"{self.best_value:.5f} (trial {self.best_trial})"
        return (
            f"trials: {self.complete} complete, {self.pruned} pruned, {self.failed} failed, "
            f"{self.running} running; best {best}"
        )


def is_result(t: FrozenTrial, retried: set[int]) -> bool:
    """A trial that counts against the budget: finished, and not a failure whose parameters were retried."""
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and t.number not in retried and ORPHAN_KEY not in t.system_attrs
    )


def progress(study: optuna.Study) -> Progress:
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = _best_by_metric(study, trials)
    return Progress(
        total=len(trials),
        complete=len(complete),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL and is_result(t, retried) for t in trials),
        running=sum(t.state == TrialState.RUNNING for t in trials),
        waiting=sum(t.state == TrialState.WAITING for t in trials),
        best_value=None if best is None else best.values[0 if len(best.values) == 1 else _metric_index(study)],
        best_trial=None if best is None else best.number,
    )


def _metric_index(study: optuna.Study) -> int:
    config = study_config(study)
    return config.objective_names.index(config.metric)


def _best_by_metric(study: optuna.Study, trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The best completed trial by the study metric (multi-objective: among feasible trials)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    i = 0
    if len(study.directions) > 1:
        complete = feasible_complete(study_config(study), complete)
        i = _metric_index(study)
    if not complete:
        return None
    sign = 1.0 if study.directions[i] == optuna.study.StudyDirection.MAXIMIZE else -1.0
    return max(complete, key=lambda t: (sign * t.values[i], -t.number))


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best metric first (multi-objective: feasible trials only)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    i = 0
    if len(study.directions) > 1:
        trials = feasible_complete(study_config(study), trials)
        i = _metric_index(study)
    sign = 1.0 if study.directions[i] == optuna.study.StudyDirection.MAXIMIZE else -1.0
    return sorted(trials, key=lambda t: (-sign * t.values[i], t.number))


def leaderboard(study: optuna.Study, top: int = 10) -> list[dict[str, Any]]:
    complete = ranked_trials(study)
    i = _metric_index(study) if len(study.directions) > 1 else 0
    return [
        {
            "trial": t.number,
            "value": t.values[i],
            "model": t.params.get("model", study_config(study).model_space[0]),
            "params": t.params,
            "seconds": (t.duration.total_seconds() if t.duration else None),
        }
        for t in complete[:top]
    ]


def format_leaderboard(rows: list[dict[str, Any]], metric: str) -> str:
    lines = [f"{'rank':>4}  {'trial':>5}  {metric:>10}  {'model':<20} {'secs':>6}  params"]
    for i, r in enumerate(rows, start=1):
        params = json.dumps(
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r["params"].items() if k != "model"}
        )
        secs = f"{r['seconds']:.1f}" if r["seconds"] is not None else "-"
        lines.append(f"{i:>4}  {r['trial']:>5}  {r['value']:>10.5f}  {r['model']:<20} {secs:>6}  {params}")
    return "\n".join(lines)
