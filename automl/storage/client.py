"""The client of our gRPC storage proxy (``storage: grpc://host:port``); the server: :mod:`automl.storage.proxy`.

Kept apart from the server module so that ``python -m automl.storage.proxy`` runs a module that
importing :mod:`automl.storage` has not imported already.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.trial import TrialState

from automl.storage.compat import GrpcProxyClientBase, trials_from_reply

#: one extra RPC beside Optuna's StorageService (same port): trials of a study in given states,
#: filtered in the database. Optuna's client can only fetch every unfinished trial, so with 1,000
#: workers each ``study.ask()`` (which looks for WAITING trials to run first) moved ~1,000 RUNNING
#: trials through PostgreSQL, the proxy and the wire.
EXTRAS_METHOD = "/automl.StorageExtras/TrialsInStates"


class ProxyClient(GrpcProxyClientBase):
    """Optuna's proxy client, asking our proxy for WAITING trials only (one cheap query) when
    ``study.ask()`` looks for a queued trial; against a plain Optuna proxy it behaves as Optuna's."""

    def new_channel(self) -> Any:
        from automl.storage.proxy_auth import client_channel

        return client_channel(self._host, self._port)

    def on_channel(self, channel: Any) -> None:
        self._extras = channel.unary_unary(EXTRAS_METHOD)
        self._extras_ok = True

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_extras", None)
        return state

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list[Any]:
        if self._extras_ok and states is not None and 0 < len(states) and set(states) <= {TrialState.WAITING}:
            import grpc  # ~70 ms; imported by Optuna's client already when it connected

            request = json.dumps({"study_id": study_id, "states": [s.name for s in states]}).encode()
            try:
                reply = self._extras(request)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.NOT_FOUND:
                    raise KeyError(f"study {study_id} not found") from err
                if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self._extras_ok = False  # a plain Optuna proxy
            else:
                return trials_from_reply(reply)
        return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
