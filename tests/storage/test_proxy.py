"""The gRPC storage proxy (``storage: grpc://host:port``): our server and client, Optuna's protocol."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from helpers import make_config
from optuna.trial import TrialState

from automl.config import ConfigError
from automl.storage import ProxyClient, StorageError, compat, get_storage, record_heartbeat, stale_trial_ids
from automl.storage.proxy import start_server


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = _port()
    monkeypatch.setenv("AUTOML_PROXY_TOKEN", "test-token")  # what the clients send
    server = start_server(f"sqlite:///{tmp_path / 'behind.db'}", "127.0.0.1", port, threads=4, token="test-token")
    try:
        yield f"grpc://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def test_config_accepts_a_proxy_url_and_rejects_bad_ones() -> None:
    assert make_config(storage="grpc://proxy.example:13000").storage_url == "grpc://proxy.example:13000"
    for bad in ("grpc://proxy.example", "grpc://h:99999", "postgres//x", "redis://h:1"):
        with pytest.raises(ConfigError, match="storage"):
            make_config(storage=bad)


def _ask_pops_the_enqueued_trial(storage: Any, name: str) -> None:
    study = optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    running = study.ask()
    running.suggest_float("x", 0, 1)
    study.enqueue_trial({"x": 0.25})
    t = study.ask()  # the WAITING one comes first, though another trial is running
    assert t.suggest_float("x", 0, 1) == 0.25
    study.tell(t, 1.0)
    study.tell(running, 2.0)
    assert [s.state for s in study.get_trials()] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_ask_uses_the_waiting_trials_call(proxy: str) -> None:
    storage = get_storage(proxy)
    assert isinstance(storage, ProxyClient)
    _ask_pops_the_enqueued_trial(storage, "ours")
    assert storage._extras_ok  # our proxy answered the extra call


def test_client_falls_back_on_a_plain_optuna_proxy(tmp_path: Path) -> None:
    port = _port()
    server = compat.make_grpc_server(
        optuna.storages.get_storage(f"sqlite:///{tmp_path / 'plain.db'}"), "127.0.0.1", port
    )
    server.start()
    try:
        storage = get_storage(f"grpc://127.0.0.1:{port}")
        _ask_pops_the_enqueued_trial(storage, "plain")
        assert isinstance(storage, ProxyClient) and not storage._extras_ok
    finally:
        server.stop(grace=None)


def test_heartbeats_through_the_proxy(proxy: str) -> None:
    storage = get_storage(proxy)
    study = optuna.create_study(study_name="hb", storage=storage)
    beating, silent = study.ask(), study.ask()
    record_heartbeat(storage, compat.trial_id(beating))
    assert stale_trial_ids(study, stale_after_s=30) == []  # fresh; a trial that never beat is left alone
    assert stale_trial_ids(study, stale_after_s=30, now=time.time() + 60) == [compat.trial_id(beating)]
    del silent


def test_unreachable_proxy_is_one_clear_error() -> None:
    with pytest.raises(
        StorageError, match=r"cannot reach the study storage proxy grpc://127.0.0.1:\d+ .*automl.storage.proxy"
    ):
        get_storage(f"grpc://127.0.0.1:{_port()}", connect_timeout_s=1)
