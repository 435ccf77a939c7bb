"""The search controller's memory: the Optuna study in a shared storage.

Workers are stateless: they rebuild sampler and pruner from the study config
(stored on the study), ask for a trial, train, report, tell.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from automl.config import StudyConfig, parse_config
from automl.samplers import make_sampler

T = TypeVar("T")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

# our ask/tell workers record heartbeats themselves (optuna issue 3293); Optuna warns that
# heartbeats are meant for Study.optimize
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
# heartbeat_interval and TPE's group option are marked experimental; we use them knowingly
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


class StorageError(RuntimeError):
    """The study storage cannot be reached or used."""


class StorageUnavailable(StorageError):
    """The study storage (database or proxy) could not be reached; workers retry this."""


def redact(url: str) -> str:
    """Hide a password in a database URL for logs and errors."""
    import re

    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


# PostgreSQL ends a session left idle inside a transaction this long (our transactions are single
# statements or a few, milliseconds apart); the stuck process's next call fails and is retried as transient
IDLE_IN_TRANSACTION_TIMEOUT_S = 10.0


def get_storage(
    url: str, heartbeat: tuple[int, int] | None = None, connect_timeout_s: float = 5.0
) -> optuna.storages.BaseStorage:
    """Open the study storage, with one clear error when it is unreachable.

    ``grpc://host:port`` connects to Optuna's gRPC storage proxy (``python -m automl.storage_proxy``)
    in front of PostgreSQL; anything else is an Optuna RDB URL, opened as
    :class:`automl.fast_storage.FastRDBStorage` (Optuna's schema, cheaper per-trial calls). ``heartbeat=(interval_s, grace_s)``
    enables Optuna's heartbeats on an RDB storage; through the proxy, heartbeats are a trial system
    attribute instead (:func:`record_heartbeat`), checked by :func:`stale_trial_ids`.
    """
    from automl.config import check_storage_url

    try:
        check_storage_url(url)
    except ValueError as err:
        raise StorageError(f"study storage {redact(url)}: {err}") from None
    if url.startswith("grpc://"):
        return _grpc_storage(url, connect_timeout_s)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several worker processes write: wait for the lock instead of failing at once
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    elif url.startswith("postgresql"):
        # pre_ping: connections that died with a server restart are replaced, not handed out.
        # A process that hangs inside a transaction (frozen, or cut off by the network) would hold its
        # row locks for as long as its connection lives, and the sensor's force-prune of that very trial
        # would wait behind them: the server ends such a session after IDLE_IN_TRANSACTION_TIMEOUT_S.
        kwargs["engine_kwargs"] = {
            "pool_pre_ping": True,
            "connect_args": {
                "connect_timeout": int(connect_timeout_s),
                "options": f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION_TIMEOUT_S * 1000)}",
            },
        }
    else:
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    if heartbeat is not None:
        kwargs["heartbeat_interval"], kwargs["grace_period"] = heartbeat
    from automl.fast_storage import FastRDBStorage

    try:
        storage = FastRDBStorage(url, **kwargs)
    except Exception as err:  # SQLAlchemy raises many types; name the storage once
        raise StorageUnavailable(
            f"cannot open study storage {redact(url)}: {type(err).__name__}: {redact(str(err))}"
        ) from None
    if url.startswith("sqlite"):
        _sqlite_wal(storage)
    return storage


def _grpc_storage(url: str, connect_timeout_s: float) -> optuna.storages.BaseStorage:
    from automl.config import grpc_address

    host, port = grpc_address(url)
    from automl.storage_proxy import ProxyClient

    proxy = ProxyClient(host=host.strip("[]"), port=port)
    try:
        proxy.wait_server_ready(timeout=connect_timeout_s)
    except ConnectionError:
        proxy.close()
        raise StorageUnavailable(
            f"cannot reach the study storage proxy {url} within {connect_timeout_s:.0f} s "
            "(start it with: python -m automl.storage_proxy --storage <postgresql URL> --port N)"
        ) from None
    return proxy


def is_transient(err: BaseException) -> bool:
    """A storage error worth retrying: the database or the proxy is (briefly) unreachable.

    Looks through the exception chain: Optuna wraps SQLAlchemy errors in StorageInternalError,
    and the gRPC proxy turns a backend failure into an RPC error.
    """
    import sqlalchemy.exc

    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, StorageUnavailable):
            return True
        if type(e).__module__.startswith("psycopg") and type(e).__name__ in ("OperationalError", "InterfaceError"):
            return True
        code = getattr(e, "code", None)
        if callable(code) and type(e).__module__.startswith("grpc"):
            try:
                name = code().name
            except Exception:
                name = ""
            # UNKNOWN: the proxy's backend raised (e.g. PostgreSQL went away behind it)
            if name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "INTERNAL", "ABORTED", "CANCELLED"):
                return True
        e = e.__cause__ or e.__context__
    return False


def retry_storage(fn: Callable[[], T], what: str, retry_s: float, log: logging.Logger | None = None) -> T:
    """Call ``fn``; while it fails with a transient storage error, back off (0.5 s doubling to 8 s,
    with jitter) and call it again, for at most ``retry_s`` seconds; then raise StorageError."""
    import random

    started = time.monotonic()
    delay = 0.5
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as err:
            if not is_transient(err):
                raise
            attempt += 1
            waited = time.monotonic() - started
            if waited >= retry_s:
                raise StorageError(
                    f"{what}: the study storage stayed unreachable for {waited:.0f} s "
                    f"({attempt} attempts): {type(err).__name__}: {redact(str(err))[:300]}"
                ) from err
            pause = min(delay, max(0.0, retry_s - waited)) * random.uniform(0.8, 1.2)
            if log is not None:
                log.warning(
                    "%s: storage unavailable (%s); retry %d in %.1f s", what, type(err).__name__, attempt, pause
                )
            time.sleep(pause)
            delay = min(delay * 2, 8.0)


HEARTBEAT_KEY = "automl:heartbeat"


def record_heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> None:
    """Optuna's heartbeat on an RDB storage; a ``automl:heartbeat`` time stamp elsewhere (the gRPC proxy)."""
    if is_heartbeat_enabled(storage):
        storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    else:
        storage.set_trial_system_attr(trial_id, HEARTBEAT_KEY, time.time())


def stale_trial_ids(study: optuna.Study, stale_after_s: float, now: float | None = None) -> list[int]:
    """Running trials whose heartbeat is older than ``stale_after_s`` (trials that never beat are left alone)."""
    storage = study._storage
    if is_heartbeat_enabled(storage):
        return list(storage._get_stale_trial_ids(study._study_id))  # type: ignore[attr-defined]
    now = time.time() if now is None else now
    return [
        t._trial_id
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if HEARTBEAT_KEY in t.system_attrs and now - float(t.system_attrs[HEARTBEAT_KEY]) > stale_after_s
    ]


ORPHAN_KEY = "automl:orphan"


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


def _sqlite_wal(storage: optuna.storages.RDBStorage) -> None:
    """WAL journal + synchronous=NORMAL: readers do not block the writer, and a report costs no fsync.

    Worker processes on one machine share the file; every report, heartbeat and tell is a write.
    """
    import sqlalchemy

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened before the listener reopen with it


def create_or_open(config: StudyConfig, study_name: str) -> optuna.Study:
    """Create the study, or reopen it on a retry / re-run (idempotent)."""
    storage = get_storage(config.storage_url)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        directions=list(config.directions),
        load_if_exists=True,
    )
    attrs = study.user_attrs
    if "config" not in attrs:
        now = time.time()
        study.set_user_attr("config", config.model_dump(mode="json"))
        study.set_user_attr("created_at", now)
        if config.budget.timeout_s:
            study.set_user_attr("deadline", now + config.budget.timeout_s)
    return study


def open_study(config: StudyConfig, study_name: str, seed_offset: int = 0) -> optuna.Study:
    from automl.pruning.control import make_worker_pruner

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
    from automl.pruning.control import retried_numbers

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
        from automl.multiobjective.study import feasible_complete

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
        from automl.multiobjective.study import feasible_complete

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
