"""Liveness of running trials: heartbeats, stale trials, and orphans of an interrupted ``ask``."""

from __future__ import annotations

import logging
import threading
import time
import warnings

import optuna
from optuna.trial import FrozenTrial, TrialState

import automl.storage.compat as compat

log = logging.getLogger(__name__)

# our ask/tell workers record heartbeats themselves (optuna issue 3293); Optuna warns that
# heartbeats are meant for Study.optimize
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

HEARTBEAT_KEY = "automl:heartbeat"
ORPHAN_KEY = "automl:orphan"


def record_heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> None:
    """Optuna's heartbeat on an RDB storage; a ``automl:heartbeat`` time stamp elsewhere (the gRPC proxy)."""
    if compat.is_heartbeat_enabled(storage):
        storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    else:
        storage.set_trial_system_attr(trial_id, HEARTBEAT_KEY, time.time())


def stale_trial_ids(study: optuna.Study, stale_after_s: float, now: float | None = None) -> list[int]:
    """Running trials whose heartbeat is older than ``stale_after_s`` (trials that never beat are left alone)."""
    storage = compat.study_storage(study)
    if compat.is_heartbeat_enabled(storage):
        return compat.stale_trial_ids_rdb(storage, compat.study_id(study))
    now = time.time() if now is None else now
    return [
        compat.trial_id(t)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if HEARTBEAT_KEY in t.system_attrs and now - float(t.system_attrs[HEARTBEAT_KEY]) > stale_after_s
    ]


def orphan_trials(study: optuna.Study, older_than_s: float, now: float | None = None) -> list[FrozenTrial]:
    """RUNNING trials that no slot owns: an ``ask`` whose reply a storage outage lost (the trial was
    created, the worker never learnt its id, so it never tagged it with its slot key and asked again).

    A worker tags its trial right after ``ask``, so an untagged trial without reports that is older
    than ``older_than_s`` can only be such a leftover.
    """
    now = time.time() if now is None else now
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if "slot_key" not in t.user_attrs
        and not t.intermediate_values
        and t.datetime_start is not None
        and now - t.datetime_start.timestamp() > older_than_s
    ]


class Heartbeat:
    """Record a trial's heartbeat every ``interval`` seconds from a background thread."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                record_heartbeat(self.storage, self.trial_id)
            except Exception as err:  # a storage hiccup must not kill the trial; the next beat retries
                log.warning("heartbeat for trial id %d failed: %s", self.trial_id, err)

    def __enter__(self) -> Heartbeat:
        record_heartbeat(self.storage, self.trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
