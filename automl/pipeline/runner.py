"""The local runner: the pipeline of ``automl.pipeline.stages`` in this process, trial slots as processes.

``automl run``, the benchmarks and the tests run studies through :class:`LocalRunner`; the Airflow
factory maps the same list onto tasks. The search phase runs each trial slot as the worker command
``python -m automl.worker`` (``budget.parallelism`` at a time, each slot's output in
``<run folder>/slot_logs/``; forked from this process where that is safe, :mod:`automl.pipeline.slots`)
while this process does what the pruning sensor does on Airflow: every ``poke_s`` one
:func:`automl.pipeline.search.pruning_pass` (stale trials, the time budget, the pruning rule). Once the study's deadline has passed no further slot starts.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.config import StudyConfig
from automl.measure import fit_cpu_seconds
from automl.pipeline.artifacts import (
    Artifact,
    HoldoutResult,
    PassReport,
    Registered,
    RunContext,
    StudyHandle,
    study_name_for,
)
from automl.pipeline.search import pruning_pass
from automl.pipeline.slots import SlotProcess, SlotStart, start_slot
from automl.pipeline.stages import PIPELINE, Stage
from automl.pruning.control import deadline_holds
from automl.storage import is_transient
from automl.study import STOP_REASON, open_study
from automl.worker import worker_command

log = logging.getLogger("automl.pipeline")


def cpu_seconds() -> float:
    """CPU seconds of this process and of every child it has waited for (the slot processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Phase:
    """Wall and CPU seconds (this process and its waited-for children) of one pipeline step, and the CPU
    seconds this process spent inside model fits during it (``automl.measure.fitting``; the trials' own
    fitting CPU is on each trial, ``fit_cpu_s``)."""

    wall_s: float
    cpu_s: float
    fit_cpu_s: float = 0.0


@dataclass
class SearchStats:
    """What the search phase did: pruning passes, passes that raced a trial's end, slot exits."""

    passes: int = 0
    raced: list[str] = field(default_factory=list)
    slots_run: int = 0
    slots_failed: list[int] = field(default_factory=list)
    slots_not_started: int = 0
    last: PassReport | None = None


@dataclass
class RunResult:
    """Every stage's output by stage name, the time of each step, and the search's statistics."""

    ctx: RunContext
    outputs: dict[str, Artifact]
    phases: dict[str, Phase]
    search: SearchStats

    @property
    def study_name(self) -> str:
        return self.ctx.study_name

    @property
    def holdout(self) -> HoldoutResult | None:
        out = self.outputs.get("evaluate_holdout")
        return out if isinstance(out, HoldoutResult) else None

    @property
    def registered(self) -> Registered | None:
        out = self.outputs.get("register_model")
        return out if isinstance(out, Registered) else None


class LocalRunner:
    """Run the pipeline locally, start to end (or up to the stage ``until``).

    :param config: the study config (after any overrides).
    :param run_id: the run's id (default: ``local__<UTC time>``); the study is named after it.
    :param runner: the name written on the MLflow parent run.
    :param until: stop after this stage (a benchmark that needs no registered model).
    :param poke_s: seconds between pruning passes (default: ``pruning.poke_interval_s``).
    :param on_progress: called with each pass's report (a progress bar).
    :param slot_start: how a slot's process starts: ``auto`` (forked from this process where safe),
        ``fork`` or ``spawn`` (a fresh interpreter, as on Airflow); :mod:`automl.pipeline.slots`.
    """

    def __init__(
        self,
        config: StudyConfig,
        run_id: str | None = None,
        *,
        runner: str = "automl.pipeline.LocalRunner",
        until: str | None = None,
        poke_s: float | None = None,
        on_progress: Callable[[PassReport], None] | None = None,
        study_name: str | None = None,
        slot_start: SlotStart = "auto",
    ) -> None:
        """``study_name``: run in that existing study (a resume) instead of the run's own new one."""
        names = [step.name for step in PIPELINE]
        if until is not None and until not in names:
            raise ValueError(f"unknown stage {until!r}; the pipeline is {names}")
        self.config = config
        self.run_id = run_id or "local__" + datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S")
        name = study_name or study_name_for(config, self.run_id)
        self.ctx = RunContext.new(config, name, {"run_id": self.run_id, "runner": runner})
        self.until = until
        self.poke_s = float(config.pruning.poke_interval_s if poke_s is None else poke_s)
        self.on_progress = on_progress
        self.slot_start: SlotStart = slot_start

    def run(self) -> RunResult:
        outputs: dict[str, Artifact] = {}
        phases: dict[str, Phase] = {}
        stats = SearchStats()
        for step in PIPELINE:
            wall0, cpu0, fit0 = time.perf_counter(), cpu_seconds(), fit_cpu_seconds()
            if isinstance(step, Stage):
                log.info("stage %s", step.name)
                outputs[step.name] = step.run(self.ctx, outputs)
            else:
                study = outputs[step.study]
                assert isinstance(study, StudyHandle)
                stats = self.search(study)
            phases[step.name] = Phase(time.perf_counter() - wall0, cpu_seconds() - cpu0, fit_cpu_seconds() - fit0)
            if step.name == self.until:
                break
        return RunResult(self.ctx, outputs, phases, stats)

    # ------------------------------------------------------------------ the search phase
    def search(self, study: StudyHandle) -> SearchStats:
        """Run the trial slots as worker processes, with the pruning pass beside them, until all have ended."""
        config, stats = self.config, SearchStats()
        deadline = open_study(config, study.study_name).user_attrs.get("deadline")
        logs = self.ctx.out / "slot_logs"
        logs.mkdir(exist_ok=True)
        pending = list(study.slots)
        running: dict[int, SlotProcess] = {}
        next_pass = time.time() + self.poke_s
        while pending or running:
            while pending and len(running) < config.budget.parallelism:
                if self._past_deadline(study, deadline) or self._stopped(study):
                    # on Airflow the remaining slots would start, see the budget spent and end at once
                    stats.slots_not_started = len(pending)
                    pending.clear()
                    break
                slot = pending.pop(0)
                cmd = worker_command(study.study_name, slot, study.config_path, study.train, study.parent_run_id)
                running[slot] = start_slot(cmd, logs / f"slot{slot}.log", config.storage_url, self.slot_start)
                stats.slots_run += 1
            for slot, proc in list(running.items()):
                if proc.poll() is not None:
                    del running[slot]
                    if proc.returncode != 0:
                        stats.slots_failed.append(slot)
                        log.warning("slot %d exited with status %d (log: %s)", slot, proc.returncode, logs)
                    else:
                        log.info("slot %d ended (log: %s)", slot, logs / f"slot{slot}.log")
            if time.time() >= next_pass:
                next_pass = time.time() + (self._pass(stats) or self.poke_s)
            time.sleep(0.05)
        for _ in range(100):  # the final state, every slot ended (a pass that raced or met an outage is repeated)
            delay = self._pass(stats)
            if not delay:
                break
            time.sleep(delay)
        return stats

    def _past_deadline(self, study: StudyHandle, deadline: float | None) -> bool:
        """The study's deadline holds (``automl.pruning.control.deadline_holds``): no further slot starts."""
        if deadline is None or time.time() < float(deadline):
            return False
        trials = open_study(self.config, study.study_name).get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return deadline_holds(self.config, deadline, time.time(), trials)

    def _stopped(self, study: StudyHandle) -> bool:
        """The study stopped itself (budget.patience): the remaining slots would start and end at once."""
        if self.config.budget.patience is None:
            return False
        return bool(open_study(self.config, study.study_name).user_attrs.get(STOP_REASON))

    def _pass(self, stats: SearchStats) -> float:
        """One pruning pass; returns 0, or a short delay when the pass must be repeated soon."""
        try:
            report = pruning_pass(self.ctx)
        except optuna.exceptions.UpdateFinishedTrialError as err:
            stats.raced.append(str(err))  # a trial ended between the pass's read and its write: look again
            return 0.2
        except Exception as err:
            if not is_transient(err):
                raise
            log.warning("study storage unavailable (%s); looking again next pass", type(err).__name__)
            return 1.0
        stats.passes += 1
        stats.last = report
        if self.on_progress is not None:
            self.on_progress(report)
        return 0.0


def run_local(config: StudyConfig, **kwargs: Any) -> RunResult:
    """``LocalRunner(config, **kwargs).run()``."""
    return LocalRunner(config, **kwargs).run()
