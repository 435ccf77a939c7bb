"""Slot leases across pods: a pod the sensor deleted frees its slot's lease at once."""

from __future__ import annotations

import time

import optuna
import pytest

from automl.storage.lease import SlotLease, SlotLeaseHeld, revoke_pod_lease


def test_a_deleted_pods_lease_is_revoked_and_its_retry_takes_the_slot_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    monkeypatch.setenv("AUTOML_POD_NAME", "trial-pod-a")
    first = SlotLease(study, 3, ttl_s=600, interval_s=0.2).acquire(wait_s=0)
    monkeypatch.setenv("AUTOML_POD_NAME", "trial-pod-b")  # the retry runs in another pod
    with pytest.raises(SlotLeaseHeld, match="held by a live worker"):
        SlotLease(study, 3, ttl_s=600, interval_s=0.2).acquire(wait_s=0)  # pod a may still be alive

    assert not revoke_pod_lease(study, 3, "some-other-pod")  # only the holder's own lease is revoked
    assert not revoke_pod_lease(study, 2, "trial-pod-a")  # and only on its slot
    assert revoke_pod_lease(study, 3, "trial-pod-a")  # the sensor deleted pod a

    started = time.time()
    retry = SlotLease(study, 3, ttl_s=600, interval_s=0.2).acquire(wait_s=0)
    assert time.time() - started < 1 and retry.token == first.token + 2  # no wait for the 600 s lease
    time.sleep(0.6)
    assert not retry.lost  # renewing its own lease
    retry.release()
    first.release()
