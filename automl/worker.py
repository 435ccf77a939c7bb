"""The trial worker: ``python -m automl.worker --study NAME --slot I ...``.

The same command runs inside an Airflow task (locally) or in a Kubernetes pod.
A slot owns trials ``slot:0 .. slot:k-1`` (k = trials per slot, the last slot
may own fewer). Each trial is tagged with its slot key, so a retried slot
resumes: it skips the trials it already finished, and a trial that a killed
attempt left RUNNING is failed and its parameters enqueued once more (the
pruning sensor does the same when a heartbeat goes stale). Each slot key ends
with exactly one result, so the study gets exactly ``n_trials``.

While a trial runs, a thread records its heartbeat in the study storage. With a parent
run, a second thread logs each finished trial as an MLflow child run, off the trials' path
(best effort: the study storage holds the results, and the final sync catches up).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl import tracking
from automl.config import StudyConfig, config_from_json
from automl.ensemble.store import OofStore
from automl.multiobjective.study import constraints_by_name
from automl.objective import KeepOof, evaluate_darts_trial, evaluate_trial
from automl.pruning.control import deadline_holds, fail_and_retry, retried_numbers
from automl.pruning.guard import DeadlineGuard
from automl.redact import redact_text
from automl.storage import Heartbeat, compat, is_transient, retry_storage
from automl.storage.lease import SlotLease, SlotLeaseHeld
from automl.study import STOP_REASON, is_result, open_study, patience_stop

log = logging.getLogger("automl.worker")


def slot_trial_count(config: StudyConfig, slot: int) -> int:
    tps, n = config.budget.trials_per_slot, config.budget.n_trials
    if slot < 0 or slot >= config.n_slots:
        raise ValueError(f"slot {slot} is outside 0..{config.n_slots - 1}")
    return min(tps, n - slot * tps)


def worker_command(
    study_name: str,
    slot: int,
    config_path: str,
    data_path: str,
    parent_run_id: str | None,
    python: str = sys.executable,
) -> list[str]:
    """The command line a trial slot runs (locally or in a pod)."""
    cmd = [
        python,
        "-m",
        "automl.worker",
        "--study",
        study_name,
        "--slot",
        str(slot),
        "--config",
        config_path,
        "--data",
        data_path,
    ]
    if parent_run_id:
        cmd += ["--parent-run-id", parent_run_id]
    return cmd


def _wait_for_capacity(
    study: optuna.Study, parallelism: int, deadline: float | None, trials: list[FrozenTrial] | None = None
) -> None:
    """Honour the run's parallelism: wait while that many trials already run.

    ``trials``: the study's trials as just read, for the first check (saves a read per trial).
    """
    while True:
        if trials is None:
            trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        running = sum(t.state == TrialState.RUNNING for t in trials)
        trials = None
        if running < parallelism or (deadline is not None and time.time() >= deadline):
            return
        time.sleep(0.5)


_SKIPPED, _STOP = -1, -2


def run_slot(
    config: StudyConfig,
    study_name: str,
    slot: int,
    X: pd.DataFrame,
    y: pd.Series,
    parent_run_id: str | None = None,
    train_path: str | None = None,
    on_deadline: Callable[[list[int]], None] | None = None,
) -> list[int]:
    """Run this slot's trials; return the trial numbers it finished in this call.

    ``on_deadline`` (the worker process's :func:`main`): a trial still running ``budget.overrun_s`` past
    the study's deadline is ended PRUNED by a guard thread (:class:`automl.pruning.guard.DeadlineGuard`),
    which releases the slot's lease and calls ``on_deadline`` with the trials finished so far; it ends the
    process. Without it (a caller in its own process) the trial runs until its next report.

    ``train_path`` (the training matrix's file): with ``ensemble.size`` > 1, the best trials' out-of-fold
    predictions are kept beside it (automl.ensemble.store) as the final ensemble's candidates.

    A storage outage (PostgreSQL restarting, the proxy unreachable) does not fail the slot: the
    step it interrupted is retried with backoff for up to ``config.storage_retry_s``. A trial that
    the outage interrupted is resumed through its slot key: failed and its parameters run again
    (or skipped, when its result had reached the storage), so nothing is lost or counted twice.
    """
    retry_s = config.storage_retry_s
    study = retry_storage(
        lambda: open_study(config, study_name, seed_offset=1 + slot * 1009), f"slot {slot}: open study", retry_s, log
    )
    deadline = study.user_attrs.get("deadline")
    p = config.pruning
    lease = retry_storage(  # one live worker per slot: a duplicate is refused here, before it touches a trial
        lambda: SlotLease(study, slot, p.stale_after_s, p.heartbeat_interval_s).acquire(
            wait_s=p.stale_after_s + p.heartbeat_interval_s
        ),
        f"slot {slot}: lease",
        retry_s,
        log,
    )
    oof = OofStore.for_worker(config, train_path) if train_path else None
    keep_oof = functools.partial(oof.keep, study) if oof is not None else None
    done_now: list[int] = []
    asked: dict[str, int] = {}  # slot key -> trial id of its last ask (to find it if the outage hit before tagging)
    live = config.mlflow_live_trials != "none"
    mlflow_log = MlflowLogger(config, study, parent_run_id) if parent_run_id and live else None
    expire: Callable[[], None] | None = None
    if on_deadline is not None:
        end_slot = on_deadline

        def expire() -> None:  # in the guard's thread; what the MLflow logger still holds, the final sync logs
            lease.release()
            end_slot(list(done_now))

    try:
        for j in range(slot_trial_count(config, slot)):
            if lease.lost:
                raise SlotLeaseHeld(f"slot {slot}: another worker took over the slot's lease; stopping")
            key = f"{slot}:{j}"
            number = retry_storage(
                functools.partial(_slot_trial, config, study, slot, key, X, y, deadline, asked, keep_oof, expire),
                f"slot {slot}: trial {key}",
                retry_s,
                log,
            )
            if number == _STOP:
                break
            if number == _SKIPPED:
                continue
            done_now.append(number)
            if mlflow_log is not None:
                mlflow_log.submit(number)
    finally:
        lease.release()
        if mlflow_log is not None:
            mlflow_log.close()  # what is queued is logged (or left to the final sync) before the slot returns
    return done_now


def _slot_trial(
    config: StudyConfig,
    study: optuna.Study,
    slot: int,
    key: str,
    X: pd.DataFrame,
    y: pd.Series,
    deadline: float | None,
    asked: dict[str, int],
    keep_oof: KeepOof | None = None,
    on_expire: Callable[[], None] | None = None,
) -> int:
    """Run the trial of one slot key (idempotent: safe to call again after a storage error)."""

    if key in asked:  # an earlier attempt asked; the storage failed before the trial carried its key
        orphan = compat.study_storage(study).get_trial(asked[key])
        if orphan.state == TrialState.RUNNING and "slot_key" not in orphan.user_attrs:
            compat.study_storage(study).set_trial_user_attr(compat.trial_id(orphan), "slot_key", key)
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    mine = [t for t in trials if t.user_attrs.get("slot_key") == key]
    if any(is_result(t, retried) for t in mine):
        log.info("slot %s: trial %s already finished, skipping", slot, key)
        return _SKIPPED
    for stale in (t for t in mine if t.state == TrialState.RUNNING):
        log.warning(
            "slot %s: trial %d was left running by an earlier attempt; failing and retrying it", slot, stale.number
        )
        fail_and_retry(study, stale, f"slot {slot} restarted while the trial was running")
    if deadline_holds(config, deadline, time.time(), trials):
        log.warning("slot %s: the study's time budget is spent; not starting trial %s", slot, key)
        return _STOP
    failed = sum(t.state == TrialState.FAIL and is_result(t, retried) for t in trials)
    if failed >= config.budget.failure_budget:
        log.error(
            "slot %s: %d trials failed, the failure budget (budget.max_failed_trials) is %d; not starting trial %s",
            slot,
            failed,
            config.budget.failure_budget,
            key,
        )
        return _STOP
    reason = patience_stop(config, study, trials)
    if reason is not None:
        if study.user_attrs.get(STOP_REASON) is None:
            study.set_user_attr(STOP_REASON, reason)
        log.warning("slot %s: study stopped early (%s); not starting trial %s", slot, reason, key)
        return _STOP
    _wait_for_capacity(study, config.budget.parallelism, deadline, trials)
    trial = study.ask()  # an enqueued retry (WAITING) comes first
    asked[key] = compat.trial_id(trial)
    trial.set_user_attr("slot_key", key)
    if os.environ.get("AUTOML_POD_NAME"):  # on Kubernetes: the pod the sensor deletes if the trial hangs
        trial.set_user_attr("pod", os.environ["AUTOML_POD_NAME"])
    started = time.time()
    guard: contextlib.AbstractContextManager[Any] = (
        DeadlineGuard(study, trial, config, deadline, on_expire) if on_expire is not None else contextlib.nullcontext()
    )
    with Heartbeat(compat.study_storage(study), compat.trial_id(trial), config.pruning.heartbeat_interval_s), guard:
        try:
            if config.nas.solver == "darts" and key == "0:0":  # the study's first trial is DARTS' answer
                value = evaluate_darts_trial(trial, config, X, y)
            else:
                value = evaluate_trial(trial, config, X, y, keep_oof=keep_oof)
        except optuna.TrialPruned as pruned:
            if config.is_multi_objective:
                record_constraints(trial, config)
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial %d pruned: %s", trial.number, pruned)
        except Exception as err:
            if is_transient(err):
                raise  # the storage, not the configuration: retried by the caller, the trial resumed by its key
            # a bad configuration fails its trial, not the slot
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            study.tell(trial, state=TrialState.FAIL)
            log.exception("trial %d failed", trial.number)
        else:
            if config.is_multi_objective:
                record_constraints(trial, config)
            study.tell(trial, value)
            log.info("trial %d: %s (%.1f s)", trial.number, describe_values(config, value), time.time() - started)
    return trial.number


def describe_values(config: StudyConfig, value: float | list[float]) -> str:
    if isinstance(value, list):
        return ", ".join(f"{n} = {v:.5g}" for n, v in zip(config.objective_names, value, strict=True))
    return f"{config.metric} = {value:.5f}"


def record_constraints(trial: optuna.Trial, config: StudyConfig) -> None:
    """Constraint values for Optuna (``Trial.set_constraint``): its samplers and plots see feasibility."""

    system_attrs = trial.storage.get_trial_system_attrs(compat.trial_id(trial))
    for text, value in constraints_by_name(config, trial.user_attrs.get("measures", {})).items():
        if f"constraints:{text}" not in system_attrs:
            trial.set_constraint(text, value)


class MlflowLogger:
    """Log finished trials as MLflow child runs from a background thread.

    Which trials: ``config.mlflow_live_trials`` ("unpruned" by default: complete and failed trials
    now, pruned ones by the final sync when the study ends, so that logging the many pruned
    trials does not take CPU from the search while it runs).

    The trial loop only queues a trial number; the thread logs what is queued, several trials
    at once when they pile up, with one client it keeps. Best effort: when MLflow is down or
    locked the batch is skipped with a warning, its results are safe in the study storage and
    the final sync (``tracking.sync_trials`` in the stages) logs them. :meth:`close` logs what
    is still queued and ends the thread.
    """

    def __init__(self, config: StudyConfig, study: optuna.Study, parent_run_id: str) -> None:
        self.config, self.study, self.parent_run_id = config, study, parent_run_id
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._client: Any = None
        self._exp_id: str | None = None
        self._thread = threading.Thread(target=self._run, name="mlflow-logger", daemon=True)
        self._thread.start()

    def submit(self, number: int) -> None:
        self._queue.put(number)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            numbers = [n for n in batch if n is not None]
            if numbers:
                self._log(numbers)

    def _log(self, numbers: list[int]) -> None:

        try:
            with tracking.fail_fast():
                if self._exp_id is None:
                    self._client = tracking.client(self.config)
                    self._exp_id = tracking.experiment_id(self.config)
                storage, study_id = compat.study_storage(self.study), compat.study_id(self.study)
                trials = [
                    storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, n)) for n in numbers
                ]
                if self.config.mlflow_live_trials == "unpruned":  # pruned ones: the final sync logs them
                    trials = [t for t in trials if t.state != optuna.trial.TrialState.PRUNED]
                tracking.log_trials(
                    self.config, self.parent_run_id, self.study.study_name, trials, self._client, self._exp_id
                )
        except Exception as err:  # MLflow down or locked: the results are safe in the study
            label = ", ".join(map(str, numbers))
            log.warning(
                "could not log trial(s) %s to MLflow now (%s); they will be synced later", label, redact_text(str(err))
            )


def load_training_frame(path: str, target: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_parquet(path)
    return frame.drop(columns=[target]), frame[target]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automl.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, help="study name in the storage")
    parser.add_argument("--slot", required=True, type=int, help="trial slot index (the map index)")
    parser.add_argument("--config", required=True, help="path of the run's effective config (JSON)")
    parser.add_argument("--data", required=True, help="Parquet file of the training feature matrix")
    parser.add_argument("--parent-run-id", default=None, help="MLflow parent run to log child runs under")
    args = parser.parse_args(argv)
    logging.basicConfig(  # force: a slot forked from the local runner replaces the runner's handlers
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout, force=True
    )
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = config_from_json(Path(args.config).read_text())
    X, y = load_training_frame(args.data, config.dataset.target)
    one_thread_per_trial()
    try:
        done = run_slot(
            config,
            args.study,
            args.slot,
            X,
            y,
            args.parent_run_id,
            train_path=args.data,
            on_deadline=functools.partial(end_at_deadline, config, args.slot, args.parent_run_id),
        )
    except SlotLeaseHeld as err:
        log.error("%s", err)
        return 3
    log.info("slot %d finished trials %s", args.slot, done)
    print(RESULT_PREFIX + json.dumps(slot_result(config, args.slot, args.parent_run_id, done)), flush=True)
    return 0


def one_thread_per_trial() -> list[str]:
    """Limit this process's BLAS and OpenMP pools to one thread (returns the libraries limited, as logged).

    A slot runs one trial at a time, one thread each (LightGBM ``num_threads=1``, scikit-learn
    ``n_jobs=1``), and ``budget.parallelism`` slots share the cores; but OpenBLAS (NumPy's and SciPy's)
    and OpenMP start one thread per core for every linear algebra call and spin waiting for work.
    Measured on this 2-core machine (2026-12-01, ``python -m benchmarks.slot_cpu --dataset breast_cancer
    --trials 300 --pools default|one``: one slot, seed 5, the default families): on a quiet machine the
    slot used 49.3 s of CPU with the pools at one thread per core, 17.9 s of it in threads other than the
    trial's (6.3 s MLflow logging), and 40.2 s limited to one thread (7.4 s, all MLflow logging). Beside a
    second busy process, as when two slots share the two cores (the tool's first version at nice 19 beside
    a benchmark run, the limit set by OPENBLAS_NUM_THREADS and OMP_NUM_THREADS), 72.3 s against 37.0 s:
    idle pool threads spin on cores another slot needs.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=1)  # the pools loaded now (the worker has imported its libraries)
    pools = sorted({f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info()})
    log.info("thread pools limited to one thread per trial: %s", ", ".join(pools) or "none loaded")
    return pools


RESULT_PREFIX = "automl-slot-result "
MAX_LISTED = 50  # the result goes to XCom: keep it small whatever trials_per_slot is


def slot_result(config: StudyConfig, slot: int, parent_run_id: str | None, done: list[int]) -> dict[str, Any]:
    """What the slot's task returns (small): the trials it ran now and its trials' MLflow child runs."""
    runs: dict[int, str] = {}
    if parent_run_id:
        try:
            runs = tracking.slot_runs(config, parent_run_id, slot)
        except Exception as err:  # MLflow down: the links fall back to the parent run
            log.warning("could not list the slot's MLflow runs: %s", redact_text(str(err)))
    ids = [runs[n] for n in sorted(runs)]
    return {"slot": slot, "trials": done[:MAX_LISTED], "n_mlflow_runs": len(ids), "mlflow_runs": ids[:MAX_LISTED]}


def end_at_deadline(config: StudyConfig, slot: int, parent_run_id: str | None, done: list[int]) -> None:
    """The slot's end when its trial ran past the study's deadline (called from the guard's thread): the
    trial is PRUNED and no further trial would start, so the slot reports what it finished and exits 0."""
    log.warning("slot %d: its trial was ended at the study's deadline; finished trials %s", slot, done)
    print(RESULT_PREFIX + json.dumps(slot_result(config, slot, parent_run_id, done)), flush=True)
    exit_now(0)


def parse_slot_result(line: str) -> dict[str, Any] | None:
    """The slot result from one line of the worker's output, if it is that line."""
    if not line.startswith(RESULT_PREFIX):
        return None
    return dict(json.loads(line[len(RESULT_PREFIX) :]))


def exit_now(code: int) -> None:
    """End the worker process without the interpreter's teardown.

    By now the slot's threads are joined and its results written; what is left is freeing the
    objects of some thousand modules (pandas, scikit-learn, SciPy, MLflow), about 0.6 s of CPU
    per slot. The exit handlers still run (logging is flushed), then the process ends.
    """
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())  # an exception still ends the usual way, with its traceback
