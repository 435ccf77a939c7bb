"""Running a trial slot's worker from an Airflow task: its output into the task log, its life tied to the task's.

The worker runs in a process group of its own. When the task is killed (Airflow sends SIGTERM:
a cleared task, a scheduler that failed it, a timeout) or fails for any reason while the worker
runs, the whole group is killed, so no worker outlives its task and a retry never races the
previous attempt's worker. If the task process itself is killed outright (SIGKILL), the kernel
signals the worker (``PR_SET_PDEATHSIG``) and the slot lease refuses any survivor's duplicate.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import threading
from typing import Any

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the task process dies (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the worker's whole process group (the worker and whatever it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_worker(cmd: list[str]) -> dict[str, Any]:
    """Run the worker command, streaming its output into the task log; return its slot result."""
    from automl.worker import parse_slot_result

    log.info("running: %s", " ".join(cmd))
    result: dict[str, Any] = {}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group: killed as one
        preexec_fn=_die_with_parent,  # noqa: PLW1509  (a single prctl call, before exec)
    )
    previous: Any = None
    installed = threading.current_thread() is threading.main_thread()
    if installed:

        def on_term(signum: int, frame: Any) -> None:
            kill_group(proc)
            if callable(previous):
                previous(signum, frame)  # Airflow's own handler: on_kill, then the task ends
            else:
                raise SystemExit(128 + signum)

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("%s", line.rstrip())
            result = parse_slot_result(line) or result
        rc = proc.wait()
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if proc.stdout is not None:
            proc.stdout.close()
    if rc != 0:
        raise RuntimeError(f"trial worker exited with status {rc}")
    return result
