"""Open the study storage: SQLite (WAL), PostgreSQL (self-healing pool), or the gRPC proxy."""

from __future__ import annotations

from typing import Any

import optuna
import sqlalchemy

from automl.config import check_storage_url, grpc_address
from automl.redact import redact
from automl.storage.client import ProxyClient
from automl.storage.errors import StorageError, StorageUnavailable
from automl.storage.fast_rdb import FastRDBStorage

# PostgreSQL ends a session left idle inside a transaction this long (our transactions are single
# statements or a few, milliseconds apart); the stuck process's next call fails and is retried as transient
IDLE_IN_TRANSACTION_TIMEOUT_S = 10.0


def get_storage(
    url: str, heartbeat: tuple[int, int] | None = None, connect_timeout_s: float = 5.0
) -> optuna.storages.BaseStorage:
    """Open the study storage, with one clear error when it is unreachable.

    ``grpc://host:port`` connects to Optuna's gRPC storage proxy (``python -m automl.storage.proxy``)
    in front of PostgreSQL; anything else is an Optuna RDB URL, opened as
    :class:`automl.storage.FastRDBStorage` (Optuna's schema, cheaper per-trial calls). ``heartbeat=(interval_s, grace_s)``
    enables Optuna's heartbeats on an RDB storage; through the proxy, heartbeats are a trial system
    attribute instead (:func:`automl.storage.record_heartbeat`), checked by :func:`automl.storage.stale_trial_ids`.
    """
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
        kwargs["engine_kwargs"] = postgres_engine_kwargs(connect_timeout_s)
    else:
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    if heartbeat is not None:
        kwargs["heartbeat_interval"], kwargs["grace_period"] = heartbeat
    try:
        storage = FastRDBStorage(url, **kwargs)
    except Exception as err:  # SQLAlchemy raises many types; name the storage once
        raise StorageUnavailable(
            f"cannot open study storage {redact(url)}: {type(err).__name__}: {redact(str(err))}"
        ) from None
    if url.startswith("sqlite"):
        sqlite_wal(storage)
    return storage


def postgres_engine_kwargs(connect_timeout_s: float) -> dict[str, Any]:
    """SQLAlchemy engine options of a worker's PostgreSQL storage.

    pre_ping: connections that died with a server restart are replaced, not handed out.
    A process that hangs inside a transaction (frozen, or cut off by the network) would hold its
    row locks for as long as its connection lives, and the sensor's force-prune of that very trial
    would wait behind them: the server ends such a session after IDLE_IN_TRANSACTION_TIMEOUT_S.
    """
    return {
        "pool_pre_ping": True,
        "connect_args": {
            "connect_timeout": int(connect_timeout_s),
            "options": f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION_TIMEOUT_S * 1000)}",
        },
    }


def _grpc_storage(url: str, connect_timeout_s: float) -> optuna.storages.BaseStorage:
    host, port = grpc_address(url)
    proxy = ProxyClient(host=host.strip("[]"), port=port)
    try:
        proxy.wait_server_ready(timeout=connect_timeout_s)
    except ConnectionError:
        proxy.close()
        raise StorageUnavailable(
            f"cannot reach the study storage proxy {url} within {connect_timeout_s:.0f} s "
            "(start it with: python -m automl.storage.proxy --storage <postgresql URL> --port N)"
        ) from None
    return proxy


def sqlite_wal(storage: optuna.storages.RDBStorage) -> None:
    """WAL journal + synchronous=NORMAL: readers do not block the writer, and a report costs no fsync.

    Worker processes on one machine share the file; every report, heartbeat and tell is a write.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened before the listener reopen with it
