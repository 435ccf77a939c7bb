"""Every use of Optuna's private API in automl, in one module.

Written against **Optuna 5.0.x**. Optuna's ``_``-prefixed modules, functions and attributes may
change in any release, so this module refuses to import under another major.minor version
(:func:`check_optuna_version`): port the functions below to the new Optuna, check them with
``tests/storage/``, then change :data:`OPTUNA_SERIES`. Nothing else in the repository may touch a
private name of Optuna; it calls a function of this module instead.

What is used, and why:

- ``study._storage``, ``study._study_id``, ``trial._trial_id``: a worker and the pruning sensor
  write trial system attributes and states directly, by trial id (:func:`study_storage`,
  :func:`study_id`, :func:`trial_id`).
- ``optuna.storages._heartbeat.is_heartbeat_enabled`` and ``BaseHeartbeat._get_stale_trial_ids``:
  our ask/tell workers record heartbeats themselves (Optuna checks them only in ``study.optimize``).
- ``optuna.storages._rdb.models`` and ``RDBStorage._get_trials`` / ``_set_trial_param`` /
  ``_create_new_trial``: :class:`automl.storage.fast_rdb.FastRDBStorage` rewrites the hot calls on
  Optuna's schema (:class:`RDBStorageBase` turns the private methods into public-named hooks).
- ``_CachedStorage._backend`` and ``optuna.storages._grpc`` (server, servicer's proto converters,
  generated messages): the storage proxy's extra RPC (:mod:`automl.storage.proxy`).
- ``optuna._hypervolume`` and ``optuna.study._multi_objective``: reference implementations the
  tests compare :mod:`automl.multiobjective.pareto` with.
"""

from __future__ import annotations

from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

#: the Optuna release series (major.minor) this module was written and tested against
OPTUNA_SERIES = (5, 0)


def check_optuna_version(version: str) -> None:
    """Raise ImportError unless ``version`` is in :data:`OPTUNA_SERIES` (e.g. ``5.0.3``)."""
    parts = version.split(".")
    try:
        series = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        series = None
    if series != OPTUNA_SERIES:
        want = ".".join(map(str, OPTUNA_SERIES))
        raise ImportError(
            f"automl.storage.compat uses Optuna's private API as of Optuna {want}.x, but Optuna {version} "
            f"is installed: install optuna=={want}.* (see constraints.txt), or port automl/storage/compat.py "
            "to this version and run tests/storage/"
        )


check_optuna_version(optuna.__version__)

# the private modules, imported only once the version is known to have them
from optuna import _hypervolume  # noqa: E402
from optuna.storages import _heartbeat  # noqa: E402
from optuna.storages._rdb import models  # noqa: E402
from optuna.study import _multi_objective  # noqa: E402

__all__ = [
    "OPTUNA_SERIES",
    "GrpcProxyClientBase",
    "RDBStorageBase",
    "check_optuna_version",
    "compute_hypervolume",
    "fast_non_domination_rank",
    "get_trials_filtered",
    "is_heartbeat_enabled",
    "make_grpc_server",
    "models",
    "rdb_backend",
    "stale_trial_ids_rdb",
    "study_id",
    "study_storage",
    "trial_id",
    "trials_from_reply",
    "trials_reply",
]


# ---------------------------------------------------------------------------- studies and trials
def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object the study reads and writes through (Optuna's read cache on an RDB storage)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The study's id in its storage."""
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The trial's id in its storage (not its number)."""
    return trial._trial_id


# ---------------------------------------------------------------------------- heartbeats
def is_heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """Optuna's heartbeats are on: an RDB storage opened with ``heartbeat_interval``."""
    return _heartbeat.is_heartbeat_enabled(storage)


def stale_trial_ids_rdb(storage: optuna.storages.BaseStorage, study_id: int) -> list[int]:
    """Running trials whose Optuna heartbeat is older than the storage's grace period."""
    assert isinstance(storage, _heartbeat.BaseHeartbeat)
    return list(storage._get_stale_trial_ids(study_id))


# ---------------------------------------------------------------------------- RDB storage
def rdb_backend(storage: optuna.storages.BaseStorage) -> Any:
    """The RDB storage under Optuna's read cache (``optuna.storages.get_storage`` wraps one); else ``storage``."""
    return getattr(storage, "_backend", storage)


def get_trials_filtered(
    storage: optuna.storages.BaseStorage,
    study_id: int,
    states: Container[TrialState] | None,
    included_trial_ids: set[int],
    trial_id_greater_than: int,
) -> list[FrozenTrial]:
    """``RDBStorage._get_trials``: the study's trials in ``states`` (all when None) that are in
    ``included_trial_ids`` or newer than ``trial_id_greater_than``, filtered in the database."""
    rdb = rdb_backend(storage)
    assert isinstance(rdb, optuna.storages.RDBStorage)
    return rdb._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)


class RDBStorageBase(optuna.storages.RDBStorage):
    """``RDBStorage`` whose private per-trial methods call public-named hooks.

    Optuna's own calls (its read cache, ``set_trial_param``, ``create_new_trial``) go through the
    private methods; a subclass overrides the hooks, whose defaults are Optuna's implementations.
    """

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        return self.get_trials_since(study_id, states, included_trial_ids, trial_id_greater_than)

    def get_trials_since(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        """Hook for ``_get_trials`` (see :func:`get_trials_filtered`)."""
        return super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
        previous_distribution: BaseDistribution | None,
    ) -> None:
        self.write_trial_param(trial_id, param_name, param_value_internal, distribution, previous_distribution)

    def write_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
        previous_distribution: BaseDistribution | None,
    ) -> None:
        """Hook for ``_set_trial_param``: Optuna's read cache passes the distribution it has seen for
        the name, the public ``set_trial_param`` passes None."""
        super()._set_trial_param(trial_id, param_name, param_value_internal, distribution, previous_distribution)

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        return self.insert_trial(study_id, template_trial)

    def insert_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        """Hook for ``_create_new_trial`` (what ``create_new_trial`` and the read cache call)."""
        return super()._create_new_trial(study_id, template_trial)


# ---------------------------------------------------------------------------- gRPC proxy
# Optuna's gRPC modules import grpc (~70 ms): only the proxy and its clients need them, so they
# are imported where used.
def make_grpc_server(
    storage: optuna.storages.BaseStorage,
    host: str,
    port: int,
    thread_pool: ThreadPoolExecutor | None = None,
    interceptors: tuple[Any, ...] = (),
    credentials: Any = None,
) -> Any:
    """Optuna's gRPC storage service (not started) serving ``storage``, behind ``interceptors`` (the
    token check), on a TLS port when ``credentials`` are given."""
    import grpc
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.servicer import OptunaStorageProxyService

    server = grpc.server(thread_pool or ThreadPoolExecutor(max_workers=10), interceptors=list(interceptors))
    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(storage), server)
    if credentials is not None:
        server.add_secure_port(f"{host}:{port}", credentials)
    else:
        server.add_insecure_port(f"{host}:{port}")
    return server


def trials_reply(trials: list[FrozenTrial]) -> bytes:
    """``trials`` as Optuna's serialized ``GetTrialsReply`` message."""
    from optuna.storages._grpc.auto_generated import api_pb2
    from optuna.storages._grpc.servicer import _to_proto_trial

    return bytes(api_pb2.GetTrialsReply(trials=[_to_proto_trial(t) for t in trials]).SerializeToString())


def trials_from_reply(data: bytes) -> list[FrozenTrial]:
    """The trials of a serialized ``GetTrialsReply`` message."""
    from optuna.storages._grpc.auto_generated import api_pb2
    from optuna.storages._grpc.servicer import _from_proto_trial

    return [_from_proto_trial(t) for t in api_pb2.GetTrialsReply.FromString(data).trials]


class GrpcProxyClientBase(optuna.storages.GrpcStorageProxy):
    """Optuna's gRPC client on a channel of our making (``new_channel``: TLS, the token), with a hook
    called with the channel whenever it (re)connects (on creation and after unpickling)."""

    def _setup(self) -> None:  # Optuna's own _setup, on our channel
        from optuna.storages._grpc.auto_generated import api_pb2_grpc
        from optuna.storages._grpc.client import GrpcClientCache

        self._channel = self.new_channel()
        self._stub = api_pb2_grpc.StorageServiceStub(self._channel)
        self._cache = GrpcClientCache(self._stub)
        self.on_channel(self._channel)

    def new_channel(self) -> Any:
        """Hook: a new ``grpc.Channel`` to the server."""
        from optuna.storages._grpc.client import create_insecure_channel

        return create_insecure_channel(self._host, self._port)

    def wait_server_ready(self, timeout: float | None = None) -> None:
        import grpc

        channel = self.new_channel()
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as err:
            raise ConnectionError("GRPC connection timeout") from err
        finally:
            channel.close()

    def on_channel(self, channel: Any) -> None:
        """Hook: the client's new ``grpc.Channel``."""


# ---------------------------------------------------------------------------- references for tests
def compute_hypervolume(loss_vals: Any, reference_point: Any) -> float:
    """Optuna's hypervolume of loss vectors (all objectives minimized)."""
    return float(_hypervolume.compute_hypervolume(loss_vals, reference_point))


def fast_non_domination_rank(loss_values: Any) -> Any:
    """Optuna's non-dominated sorting of loss vectors: the front index of each row."""
    return _multi_objective._fast_non_domination_rank(loss_values)
