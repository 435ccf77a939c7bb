"""retry_storage: transient storage errors are retried with backoff, others raised at once, and it gives up."""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path

import pytest

from automl.storage import StorageError, StorageUnavailable, get_storage, is_transient, retry_storage


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_transient_error_is_retried_until_the_storage_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite cannot open a file in a directory that is not there yet (a real OperationalError);
    the directory appears after two failed attempts and the third attempt opens the storage."""
    folder = tmp_path / "later"
    url = f"sqlite:///{folder / 'study.db'}"
    attempts = 0

    def open_storage() -> object:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            folder.mkdir()
        return get_storage(url)

    log = logging.getLogger("test.retry")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        storage = retry_storage(open_storage, "open", retry_s=30, log=log)
    waited = time.monotonic() - started
    assert attempts == 3 and type(storage).__name__ == "FastRDBStorage"
    # backoff 0.5 s then 1 s, each +-20 %
    assert 1.2 <= waited < 5.0, waited
    pauses = [float(m) for m in re.findall(r"retry \d in ([\d.]+) s", caplog.text)]
    assert len(pauses) == 2, caplog.text
    assert 0.4 <= pauses[0] <= 0.6 and 0.8 <= pauses[1] <= 1.2, pauses
    assert "open: storage unavailable (StorageUnavailable); retry 1 in" in caplog.text


def test_a_non_transient_error_is_raised_at_once() -> None:
    calls = 0

    def bad_url() -> object:
        nonlocal calls
        calls += 1
        return get_storage("redis://localhost:6379")  # a configuration error, not an outage

    started = time.monotonic()
    with pytest.raises(StorageError, match="study storage redis://") as err:
        retry_storage(bad_url, "open", retry_s=30)
    assert calls == 1 and time.monotonic() - started < 1.0
    assert not isinstance(err.value, StorageUnavailable) and not is_transient(err.value)

    with pytest.raises(KeyError):
        retry_storage(lambda: {}["missing"], "read", retry_s=30)


def test_gives_up_after_retry_s_with_the_attempts_and_a_redacted_error() -> None:
    """Nothing listens on the port: PostgreSQL's client fails at once (a real OperationalError), every time."""
    url = f"postgresql+psycopg://someone:hunter2@127.0.0.1:{_closed_port()}/none"
    calls = 0

    def unreachable() -> object:
        nonlocal calls
        calls += 1
        return get_storage(url, connect_timeout_s=1)

    started = time.monotonic()
    with pytest.raises(
        StorageError, match=r"^slot 3: open study: the study storage stayed unreachable for \d+ s"
    ) as err:
        retry_storage(unreachable, "slot 3: open study", retry_s=2.0)
    waited = time.monotonic() - started
    assert 2.0 <= waited < 6.0, waited
    message = str(err.value)
    assert f"({calls} attempts): StorageUnavailable: cannot open study storage" in message
    assert calls >= 3  # 0.5 s, 1 s, then the rest of the 2 s
    assert "hunter2" not in message and "someone:***@" in message
    assert isinstance(err.value.__cause__, StorageUnavailable)
    assert not isinstance(err.value, StorageUnavailable)  # giving up is final: not retried again by a caller
