"""How the local runner starts a trial slot's process: forked from the runner, or a fresh interpreter.

A slot is always the worker command (:func:`automl.worker.worker_command`, what Airflow tasks and
Kubernetes pods run). The local runner may instead fork itself and call :func:`automl.worker.main`
with the command's arguments: the runner has already imported what a worker needs (pandas, Optuna,
MLflow, scikit-learn, LightGBM), so the slot starts at once and spends no CPU on imports.

Why not always a fresh interpreter: measured on this 2-core machine (2026-12-01), importing the
worker's modules costs 2.9-3.3 s of CPU (``/usr/bin/time python -c "import automl.worker,
automl.objective, lightgbm, sklearn.ensemble, sklearn.linear_model"``), about 5 s per slot with its
first MLflow client and storage. With one slot per core that is 10 s of CPU and 3.5-4.4 s of wall
time before the first trial, in a 45 s run on diabetes (``first_trial_s`` in
docs/results/quality/report-diabetes-tv16.json). Python's ``multiprocessing`` forkserver would
import once more and reap the slots itself, where the runner's CPU accounting
(``RUSAGE_CHILDREN``) would not see them; this module forks the runner and reaps its children.

What a forked slot must not inherit, and how it does not:

- **database connections**: a connection pooled in the runner (the study storage, MLflow's store) is
  never used by a child: SQLAlchemy's documented recipe for pools across ``os.fork`` (a connection
  checked out in another process than the one that opened it is discarded, without closing it,
  and a new one opened), registered for every pool on import of this module;
- **exit handlers**: the runner's ``atexit`` callbacks (temporary folders, MLflow's run end) are
  cleared in the child, which ends with ``os._exit`` after flushing its logs;
- **output**: the child's stdout and stderr (file descriptors 1 and 2, and ``sys.stdout``/``sys.stderr``
  anew on them) are its slot log, as with a fresh interpreter.

A fork is used only where it is safe (``fork_safe``): POSIX, an RDB study storage (the gRPC proxy's
client runs threads inside gRPC), no other non-daemon thread running in the runner, and no CUDA
context; otherwise, or with ``start="spawn"``, the slot is a fresh interpreter.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import event, exc
from sqlalchemy.pool import Pool

SlotStart = Literal["auto", "fork", "spawn"]

_REGISTERED_IN = os.getpid()


@event.listens_for(Pool, "connect")
def _remember_pid(dbapi_connection: Any, record: Any) -> None:
    record.info["pid"] = os.getpid()


@event.listens_for(Pool, "checkout")
def _refuse_inherited(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection opened by another process (before a fork) is dropped here, not closed (its
    socket belongs to that process too); SQLAlchemy then opens a new one for this process."""
    pid = os.getpid()
    owner = record.info.get("pid", _REGISTERED_IN)  # opened before this module was imported: by its importer
    if owner != pid:
        record.dbapi_connection = proxy.dbapi_connection = None
        raise exc.DisconnectionError(f"connection of process {owner} checked out in process {pid}")


class SlotProcess(Protocol):
    """What the runner needs of a slot's process (``subprocess.Popen`` has it)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...


class ForkedSlot:
    """A slot forked from this process; :meth:`poll` reaps it (its CPU is then in ``RUSAGE_CHILDREN``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork_safe(storage_url: str) -> str | None:
    """Why a slot cannot be forked from this process now, or None when it can."""
    if not hasattr(os, "fork"):
        return "no os.fork on this platform"
    if storage_url.startswith("grpc://"):
        return "the study storage is the gRPC proxy (gRPC's client runs its own threads)"
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others:
        return f"other threads run in this process: {', '.join(others)}"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return "CUDA is initialized in this process"
    return None


def is_worker_command(cmd: list[str]) -> bool:
    return len(cmd) >= 3 and cmd[1:3] == ["-m", "automl.worker"]


def start_slot(cmd: list[str], log_path: Path, storage_url: str, start: SlotStart = "auto") -> SlotProcess:
    """Start one slot's worker command, its output in ``log_path``: forked (``auto`` where safe, ``fork``)
    or as a fresh interpreter (``spawn``, or a command that is not the worker's)."""
    if start != "spawn" and is_worker_command(cmd):
        reason = fork_safe(storage_url)
        if reason is None:
            return _fork(cmd[3:], log_path)
        if start == "fork":
            raise RuntimeError(f"cannot fork a trial slot: {reason}")
        logging.getLogger("automl.pipeline").info("slot started as a fresh interpreter: %s", reason)
    with log_path.open("wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)


def _fork(argv: list[str], log_path: Path) -> ForkedSlot:
    sys.stdout.flush()  # what the runner buffered is not written twice
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    pid = os.fork()
    if pid:
        os.close(fd)
        return ForkedSlot(pid)
    code = 1
    try:  # the child: never returns into the runner's code
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        # the runner's sys.stdout may not be file descriptor 1 (a test's capture, a progress display)
        sys.stdout = open(1, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
        atexit._clear()  # the runner's exit handlers are not this process's (its temporary folders, its runs)
        from automl import worker

        code = worker.main(argv)
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
