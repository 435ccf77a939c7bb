"""Slot leases: one live worker per trial slot, with a fencing token in the study storage.

A worker takes its slot's lease (a study system attribute ``automl:slot_lease:<slot>``: a token
that grows by one per holder, the holder's identity, the time it was last renewed) before it
touches the slot's trials, and renews it from a thread. A second worker on the same slot finds a
live lease and is refused (:class:`SlotLeaseHeld`) without touching anything, so it never takes a
healthy trial of the first for a dead attempt's leftover. A lease is free when it has not been
renewed for ``ttl_s`` (its holder died elsewhere) or when its holder was a process of this host
that no longer exists (a killed attempt, retried at once). A holder whose token was taken over
(it stalled past ``ttl_s``) is *fenced*: :attr:`SlotLease.lost` turns true and it starts no
further trial.

The read-then-write is not a database transaction: two workers that start within the same
moment can both write; each re-reads after writing and only the one whose token is stored
goes on (the last writer wins, the other sees it has lost at once).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import optuna

import automl.storage.compat as compat

log = logging.getLogger(__name__)

LEASE_KEY = "automl:slot_lease:{slot}"


class SlotLeaseHeld(RuntimeError):
    """Another live worker holds this slot."""


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "pod": os.environ.get("AUTOML_POD_NAME", "")}


def _dead_here(lease: dict[str, Any]) -> bool:
    """The holder was a process of this host (not a pod elsewhere) that no longer exists."""
    if lease.get("host") != socket.gethostname() or lease.get("pod"):
        return False
    try:
        os.kill(int(lease["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


class SlotLease:
    """The lease of one slot; ``with SlotLease(study, slot, ttl_s, interval_s).acquire(wait_s):``."""

    def __init__(self, study: optuna.Study, slot: int, ttl_s: float, interval_s: float) -> None:
        self.storage, self.study_id = compat.study_storage(study), compat.study_id(study)
        self.key = LEASE_KEY.format(slot=int(slot))
        self.slot, self.ttl_s, self.interval_s = slot, ttl_s, interval_s
        self.token: int | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> dict[str, Any] | None:
        value = self.storage.get_study_system_attrs(self.study_id).get(self.key)
        return dict(value) if isinstance(value, dict) else None

    def _mine(self, held: dict[str, Any] | None) -> bool:
        """The stored lease is this holder's: its token and its identity (host, pid, pod)."""
        return (
            held is not None and held.get("token") == self.token and all(held.get(k) == v for k, v in _owner().items())
        )

    def _write(self, token: int, renewed_at: float) -> None:
        self.storage.set_study_system_attr(
            self.study_id, self.key, {"token": token, **_owner(), "renewed_at": renewed_at}
        )

    def acquire(self, wait_s: float) -> SlotLease:
        """Take the lease, waiting up to ``wait_s`` for a live holder's lease to go stale; else refuse."""
        give_up = time.time() + wait_s
        while True:
            held = self._read()
            free = held is None or time.time() - float(held.get("renewed_at", 0)) > self.ttl_s or _dead_here(held)
            if free:
                token = int(held["token"]) + 1 if held else 1
                self._write(token, time.time())
                self.token = token
                if self._mine(self._read()):
                    break
                self.token = None
            elif time.time() >= give_up:
                assert held is not None
                who = held.get("pod") or f"{held.get('host')} pid {held.get('pid')}"
                age = time.time() - float(held.get("renewed_at", 0))
                raise SlotLeaseHeld(
                    f"slot {self.slot} is held by a live worker ({who}, lease renewed {age:.0f} s ago, "
                    f"token {held.get('token')}); refusing to run the slot twice"
                )
            time.sleep(min(self.interval_s, 1.0))
        log.info("slot %d: lease taken (token %d)", self.slot, self.token)
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.slot}", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                held = self._read()
                if not self._mine(held):
                    self.lost = True
                    log.error("slot %d: lease taken over (token %s); starting no further trial", self.slot, held)
                    return
                self._write(int(self.token or 0), time.time())
            except Exception as err:  # a storage hiccup: the next renewal retries (the ttl covers a few)
                log.warning("slot %d: lease renewal failed: %s", self.slot, err)

    def release(self) -> None:
        """Stop renewing and mark the lease free (a retry on another host need not wait for it to go stale)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.token is not None and not self.lost:
            try:
                if self._mine(self._read()):
                    self._write(self.token, 0.0)
            except Exception as err:
                log.warning("slot %d: lease release failed: %s", self.slot, err)

    def __enter__(self) -> SlotLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def revoke_pod_lease(study: optuna.Study, slot: int, pod: str) -> bool:
    """Free the slot's lease when its holder is ``pod``, a pod the caller has just deleted.

    A pod's death cannot be seen from another pod (:func:`_dead_here` only knows this host's
    processes), so without this a retried slot would wait a whole lease period (``stale_after_s``)
    for the lease of a pod the pruning sensor deleted. The token is bumped: should the deleted pod
    still renew during its termination, it finds the lease no longer its own and stops.
    """
    storage, study_id = compat.study_storage(study), compat.study_id(study)
    key = LEASE_KEY.format(slot=int(slot))
    held = storage.get_study_system_attrs(study_id).get(key)
    if not isinstance(held, dict) or held.get("pod") != pod:
        return False
    token = int(held.get("token", 0)) + 1
    storage.set_study_system_attr(study_id, key, {"token": token, "host": "", "pid": 0, "pod": "", "renewed_at": 0.0})
    log.info("slot %d: lease of deleted pod %s revoked (token %d)", slot, pod, token)
    return True
