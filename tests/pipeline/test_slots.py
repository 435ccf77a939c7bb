"""Trial slots forked from the local runner (automl.pipeline.slots): the same study as fresh interpreters, their
CPU counted, and nothing of the runner's broken by them (its pooled connections, its exit handlers)."""

from __future__ import annotations

import tempfile
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import make_config

from automl.pipeline.slots import ForkedSlot, fork_safe, start_slot
from automl.worker import RESULT_PREFIX


def _run(config, slot_start: str):  # type: ignore[no-untyped-def]
    from automl.pipeline import LocalRunner

    runner = LocalRunner(
        config, f"slots-{slot_start}-{uuid.uuid4().hex[:6]}", until="check_search", slot_start=slot_start
    )  # type: ignore[arg-type]
    return runner, runner.run()


def _small(**kw):  # type: ignore[no-untyped-def]
    return make_config(features={"enabled": False, "select": False}, warm_start={"enabled": False}, **kw)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_slots_run_the_study_and_their_cpu_is_the_runners_children(start: str, automl_home: Path) -> None:
    from automl.study import open_study

    config = _small()
    kept = tempfile.TemporaryDirectory()  # the runner's: a forked slot's exit must not clean it up
    try:
        runner, result = _run(config, start)
        assert result.search.slots_run == 2 and result.search.slots_failed == []
        trials = open_study(config, runner.ctx.study_name).get_trials(deepcopy=False)
        assert sorted(t.user_attrs["slot_key"] for t in trials if t.state.is_finished()) == ["0:0", "0:1", "1:0", "1:1"]
        for slot in (0, 1):  # each slot's output went to its own log, with its result line
            text = (runner.ctx.out / "slot_logs" / f"slot{slot}.log").read_text()
            assert RESULT_PREFIX in text and "automl.worker" in text, text[-2000:]
            # one thread per trial: NumPy's BLAS spun a thread per core on every call (automl.worker)
            assert "thread pools limited to one thread per trial: " in text and "openblas=1" in text, text[:3000]
            assert "openblas=2" not in text and "openmp=2" not in text
        # the slots' CPU is in the runner's accounting: at least their trials' fitting CPU
        fit = sum(t.user_attrs.get("fit_cpu_s", 0.0) for t in trials)
        assert result.phases["run_trial"].cpu_s >= fit > 0
        assert Path(kept.name).is_dir()
    finally:
        kept.cleanup()


def test_a_forked_process_opens_its_own_postgres_session_and_leaves_the_parents_alone(postgres_url: str) -> None:
    """The pool recipe of automl.pipeline.slots: a child that checks out the parent's pooled connection gets a
    new server session; the parent's session outlives the child (a child that used or closed it would not)."""
    import os

    import automl.pipeline.slots  # noqa: F401  (registers the recipe)

    engine = sa.create_engine(postgres_url, pool_size=1, max_overflow=0)
    query = sa.text("select pg_backend_pid()")
    with engine.connect() as conn:
        parent = conn.execute(query).scalar()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its session, end without the parent's exit handlers
        code = 1
        try:
            with engine.connect() as conn:
                os.write(write, str(conn.execute(query).scalar()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = int(os.read(read, 64) or b"0")
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child not in (0, parent)
    with engine.connect() as conn:
        assert conn.execute(query).scalar() == parent
    engine.dispose()


def test_a_slot_is_a_fresh_interpreter_where_a_fork_is_not_safe(tmp_path: Path) -> None:
    assert fork_safe("sqlite:///x.db") is None
    assert "gRPC" in str(fork_safe("grpc://127.0.0.1:50051"))
    release = threading.Event()
    busy = threading.Thread(target=release.wait, name="busy-thread")
    busy.start()
    try:
        assert "busy-thread" in str(fork_safe("sqlite:///x.db"))
        cmd = ["python", "-m", "automl.worker", "--help"]
        with pytest.raises(RuntimeError, match="cannot fork a trial slot: other threads"):
            start_slot(cmd, tmp_path / "log", "sqlite:///x.db", "fork")
    finally:
        release.set()
        busy.join()
    import sys

    forked = start_slot([sys.executable, "-m", "automl.worker", "--help"], tmp_path / "help.log", "sqlite:///x.db")
    assert isinstance(forked, ForkedSlot)
    while forked.poll() is None:
        threading.Event().wait(0.05)
    assert forked.returncode == 0 and "--study" in (tmp_path / "help.log").read_text()
    spawned = start_slot([sys.executable, "-m", "automl.worker", "--help"], tmp_path / "s.log", "x", "spawn")
    assert not isinstance(spawned, ForkedSlot) and spawned.pid != forked.pid
    assert spawned.wait() == 0  # type: ignore[attr-defined]
