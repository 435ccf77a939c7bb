"""The worker's own deadline: a trial still running ``budget.overrun_s`` past the study's deadline ends.

The time budget reaches a running trial as a stop signal (``automl:stop``, written by the central
pass at the deadline) that its worker reads at its next report. A family that reports rarely cannot
see it in time: a random forest reports once per fold, and on tv16 (35,945 training rows, 191 columns
kept on seed 9) one fold of the portfolio's 300-tree forest took about 65 s, so a run with a 120 s
end-to-end budget ended 57.6 s late (``python -m benchmarks.quality --datasets tv16 --methods ours
--select-seeds --report-seeds 9``, 2026-12-01, docs/benchmarks.md). The sensor's own enforcement
(:func:`automl.pruning.control.overdue_stops`, ``pruning.stop_grace_s``) stops a process only on
Kubernetes, where it deletes the pod, and only a minute after the signal: it is for hung trials, not
for a budget that has seconds to spare.

:class:`DeadlineGuard` enforces the deadline where the trial runs, the same way in a local process,
an Airflow task or a pod: a thread beside the trial that, ``overrun_s`` after the deadline and once
the deadline holds (:func:`automl.pruning.control.deadline_holds`: a first trial has completed, so a
run always ends with a model), ends the trial PRUNED (:func:`automl.pruning.control.force_prune`:
its intermediate values stay) and calls ``on_expire``, which ends the worker process. Nothing is
lost by ending the process: past the deadline no further trial starts. When the trial ends first,
the guard does nothing. A trial it ends gets the user attributes ``train_seconds`` and ``fit_cpu_s``
(the trial thread's CPU seconds since the guard started, read through its thread CPU clock): the
work it did is counted as fitting, as for a trial that stopped itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from automl.config import StudyConfig
from automl.pruning.control import deadline_holds, force_prune
from automl.storage import compat

log = logging.getLogger("automl.pruning.guard")

#: seconds between looks at the study while the deadline does not hold yet (no trial has completed)
POLL_S = 1.0


class DeadlineGuard:
    """Use as ``with DeadlineGuard(study, trial, config, deadline, on_expire): <run the trial>``.

    :param deadline: the study's deadline (epoch seconds, the ``deadline`` user attribute); ``None``: no guard.
    :param on_expire: called from the guard's thread after the trial was ended PRUNED (the worker exits there).
    """

    def __init__(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        config: StudyConfig,
        deadline: float | None,
        on_expire: Callable[[], None],
    ) -> None:
        self.study, self.trial, self.config = study, trial, config
        self.deadline = None if deadline is None else float(deadline)
        self.on_expire = on_expire
        self.expired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"deadline-guard-{trial.number}", daemon=True)

    def __enter__(self) -> DeadlineGuard:
        # the trial's thread (this one): its CPU clock, read from the guard's thread when it ends the trial
        self._clock = time.pthread_getcpuclockid(threading.get_ident())
        self._cpu0, self._wall0 = time.clock_gettime(self._clock), time.perf_counter()
        if self.deadline is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        assert self.deadline is not None
        wake = self.deadline + self.config.budget.overrun_s
        while not self._done.wait(max(0.0, wake - time.time())):
            wake = time.time() + POLL_S
            how = f"still running {time.time() - self.deadline:.1f} s after the study's deadline: ended by its worker"
            try:
                complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not deadline_holds(self.config, self.deadline, time.time(), complete) or self._done.is_set():
                    continue
                ended = self._end(how)
            except Exception as err:  # the storage restarting: look again
                log.warning("trial %d: could not read or end it (%s); looking again", self.trial.number, err)
                continue
            if ended:  # False: the trial told its result meanwhile, its worker goes on as usual
                self.expired = True
                log.warning("trial %d %s (budget.overrun_s %s)", self.trial.number, how, self.config.budget.overrun_s)
                self.on_expire()
            return

    def _end(self, how: str) -> bool:
        """The trial's work so far (wall and fitting CPU), then PRUNED; False when it had ended meanwhile."""
        storage, trial_id = compat.study_storage(self.study), compat.trial_id(self.trial)
        try:
            storage.set_trial_user_attr(trial_id, "train_seconds", time.perf_counter() - self._wall0)
            storage.set_trial_user_attr(trial_id, "fit_cpu_s", time.clock_gettime(self._clock) - self._cpu0)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return force_prune(self.study, self.trial, how)
