"""The study storage: opening it, retrying through outages, heartbeats, and the fast RDB storage.

Modules:

- :mod:`~automl.storage.errors`: :class:`StorageError`, :class:`StorageUnavailable`, :func:`is_transient`.
- :mod:`~automl.storage.retry`: :func:`retry_storage` (backoff through an outage).
- :mod:`~automl.storage.backends`: :func:`get_storage` (SQLite in WAL mode, PostgreSQL, the gRPC proxy).
- :mod:`~automl.storage.heartbeat`: trial heartbeats, stale and orphaned trials.
- :mod:`~automl.storage.fast_rdb`: :class:`FastRDBStorage`, Optuna's RDB storage with cheaper per-trial calls.
- :mod:`~automl.storage.client` and :mod:`~automl.storage.proxy`: the gRPC storage proxy
  (``python -m automl.storage.proxy``) and its client.
- :mod:`~automl.storage.compat`: the only module that touches Optuna's private API.
"""

from automl.storage.backends import IDLE_IN_TRANSACTION_TIMEOUT_S, get_storage
from automl.storage.client import ProxyClient
from automl.storage.errors import StorageError, StorageUnavailable, is_transient
from automl.storage.fast_rdb import FastRDBStorage
from automl.storage.heartbeat import (
    HEARTBEAT_KEY,
    ORPHAN_KEY,
    Heartbeat,
    orphan_trials,
    record_heartbeat,
    stale_trial_ids,
)
from automl.storage.retry import retry_storage

__all__ = [
    "HEARTBEAT_KEY",
    "IDLE_IN_TRANSACTION_TIMEOUT_S",
    "ORPHAN_KEY",
    "FastRDBStorage",
    "Heartbeat",
    "ProxyClient",
    "StorageError",
    "StorageUnavailable",
    "get_storage",
    "is_transient",
    "orphan_trials",
    "record_heartbeat",
    "retry_storage",
    "stale_trial_ids",
]
