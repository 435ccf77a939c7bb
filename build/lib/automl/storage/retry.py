"""Retry a storage call through a (brief) outage of the database or the proxy."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

import tenacity

from automl.redact import redact
from automl.storage.errors import StorageError, is_transient

T = TypeVar("T")

FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 8.0


def _retryable(err: BaseException) -> bool:
    return isinstance(err, Exception) and is_transient(err)  # never retry a KeyboardInterrupt / SystemExit


def retry_storage(fn: Callable[[], T], what: str, retry_s: float, log: logging.Logger | None = None) -> T:
    """Call ``fn``; while it fails with a transient storage error, back off (0.5 s doubling to 8 s,
    with jitter) and call it again, for at most ``retry_s`` seconds; then raise StorageError.

    A non-transient error is raised at once, as it is.
    """
    backoff = tenacity.wait_exponential(multiplier=FIRST_PAUSE_S, max=MAX_PAUSE_S)

    def pause(state: tenacity.RetryCallState) -> float:
        remaining = max(0.0, retry_s - (state.seconds_since_start or 0.0))
        return min(backoff(state), remaining) * random.uniform(0.8, 1.2)

    def warn(state: tenacity.RetryCallState) -> None:
        if log is not None and state.outcome is not None:
            err = state.outcome.exception()
            log.warning(
                "%s: storage unavailable (%s); retry %d in %.1f s",
                what,
                type(err).__name__,
                state.attempt_number,
                state.upcoming_sleep,
            )

    def give_up(state: tenacity.RetryCallState) -> T:
        assert state.outcome is not None
        err = state.outcome.exception()
        assert err is not None
        waited = state.seconds_since_start or 0.0
        raise StorageError(
            f"{what}: the study storage stayed unreachable for {waited:.0f} s "
            f"({state.attempt_number} attempts): {type(err).__name__}: {redact(str(err))[:300]}"
        ) from err

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_retryable),
        stop=tenacity.stop_after_delay(retry_s),
        wait=pause,
        before_sleep=warn,
        retry_error_callback=give_up,
    )
    return retrying(fn)
