"""The search controller's memory: the Optuna study in a shared storage (:mod:`automl.storage`).

Workers are stateless: they rebuild sampler and pruner from the study config
(stored on the study), ask for a trial, train, report, tell.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.config import ConfigError, StudyConfig, parse_config
from automl.multiobjective.study import feasible_complete
from automl.pruning.control import check_pruner_options, make_worker_pruner, retried_numbers
from automl.redact import redact
from automl.samplers import check_sampler_options, make_sampler
from automl.storage import ORPHAN_KEY, StorageError, get_storage

log = logging.getLogger("automl.study")

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

# heartbeat_interval and TPE's group option are marked experimental; we use them knowingly
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def check_search_config(config: StudyConfig, source: str | None = None) -> None:
    """Check ``search_space``, ``sampler_options`` and ``pruning.options`` against the families' parameters and
    Optuna's constructors; raise one ConfigError with a line per bad field."""
    if not (config.search_space or config.sampler_options or config.pruning.options):
        return
    from automl.families.space import check_search_space

    problems = check_search_space(config) + check_sampler_options(config) + check_pruner_options(config)
    if not problems:  # names are right: do Optuna's constructors take the values?
        for what, build in (("sampler_options", make_sampler), ("pruning.options", make_worker_pruner)):
            try:
                build(config)
            except (TypeError, ValueError) as err:
                problems.append(f"{what}: {err}")
    if problems:
        head = f"invalid study config {source or config.name}: {len(problems)} problem(s)"
        raise ConfigError("\n".join([head, *(f"  - {p}" for p in problems)]))


STOP_REASON = "stop_reason"  # study user attribute: why no further trial starts (patience)
PATIENCE_FROM = "patience_from"  # study user attribute: patience counts trials finished after this time


def patience_stop(config: StudyConfig, study: optuna.Study, trials: list[FrozenTrial] | None = None) -> str | None:
    """Why the study should start no further trial: ``budget.patience`` finished trials in a row without
    improving the best value by more than ``budget.min_delta`` (None: keep going)."""
    patience = config.budget.patience
    if patience is None or config.is_multi_objective:
        return None
    since = study.user_attrs.get(PATIENCE_FROM)
    done = [
        t
        for t in (trials if trials is not None else study.get_trials(deepcopy=False))
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and t.datetime_complete is not None
        and (since is None or t.datetime_complete.timestamp() >= since)
    ]
    done.sort(key=lambda t: (t.datetime_complete, t.number))
    maximize = config.metric_direction == "maximize"
    best: FrozenTrial | None = None
    stale = 0
    for t in done:
        if t.state == TrialState.COMPLETE and t.value is not None:
            gain = None if best is None else (t.value - best.value if maximize else best.value - t.value)  # type: ignore[operator]
            if gain is None or gain > config.budget.min_delta:
                best, stale = t, 0
                continue
        stale += 1
    if best is not None and stale >= patience:
        return (
            f"patience: {stale} finished trials without improving the best {config.metric} "
            f"({best.value:.6g}, trial {best.number}) by more than {config.budget.min_delta:g}"
        )
    return None


class StudyMismatch(ValueError):
    """A run's study exists but was made from other data: its trials must not be reused."""


def search_deadline(config: StudyConfig, now: float, clock_started_at: float | None = None) -> float | None:
    """When the search ends (epoch seconds), or None: ``now + budget.timeout_s`` and, with ``budget.total_s``,
    ``clock_started_at + total_s * (1 - final_share)`` (the run's end-to-end clock, started before the data
    was read; ``now`` when unknown), whichever comes first."""
    b = config.budget
    ends = []
    if b.timeout_s:
        ends.append(now + b.timeout_s)
    if b.total_s:
        start = now if clock_started_at is None else clock_started_at
        ends.append(start + b.total_s * (1.0 - b.final_share))
    return min(ends) if ends else None


def create_or_open(
    config: StudyConfig,
    study_name: str,
    data_fingerprint: str | None = None,
    clock_started_at: float | None = None,
) -> optuna.Study:
    """Create the study, or reopen it on a retry / re-run (idempotent).

    ``data_fingerprint``: the training data's (``load_data``); a study reopened with other data
    stops with :class:`StudyMismatch` instead of refitting its old trials' best on new rows.
    ``clock_started_at``: when the run's end-to-end clock started (``load_data``'s start): with
    ``budget.total_s`` the search's deadline counts from there (:func:`search_deadline`).
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
        if clock_started_at is not None:
            study.set_user_attr("clock_started_at", clock_started_at)
        deadline = search_deadline(config, now, clock_started_at)
        if deadline is not None:
            study.set_user_attr("deadline", deadline)
            if deadline <= now:
                log.warning(
                    "the end-to-end budget (budget.total_s = %s s) was spent before the search: "
                    "trials start until a first one completes, and the run ends late",
                    config.budget.total_s,
                )
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


def prepare_resume(config: StudyConfig, study_name: str, extra_trials: int | None = None) -> StudyConfig:
    """Open an existing study for more trials: the config with ``n_trials`` = the slot keys it has plus
    ``extra_trials`` (default: the config's ``n_trials``), its time budget restarted from now and its
    patience counted from now. Re-running the pipeline under the same study name then adds the trials
    to the same study, and ``start_parent_run`` finds the same MLflow parent run."""
    prefix = f"{config.name}__"
    if not study_name.startswith(prefix):
        raise ConfigError(f"--resume {study_name}: not a study of config {config.name!r} (names start {prefix!r})")
    study = open_study(config, study_name)
    keys = {t.user_attrs["slot_key"] for t in study.get_trials(deepcopy=False) if "slot_key" in t.user_attrs}
    extra = config.budget.n_trials if extra_trials is None else extra_trials
    resumed = config.with_overrides({"n_trials": len(keys) + extra})
    now = time.time()
    study.set_user_attr("deadline", search_deadline(config, now))
    study.set_user_attr(PATIENCE_FROM, now)
    study.set_user_attr(STOP_REASON, None)
    return resumed


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
