"""Run a study DAG on an embedded Airflow (SQLite metadata DB) with ``dag.test()``.

Used by ``make demo`` and by the end-to-end tests. Call :func:`configure` before
anything imports Airflow: Airflow reads its configuration at import time.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def configure(airflow_home: Path, dags_folder: Path, automl_home: Path) -> dict[str, str]:
    """Set the environment for an embedded Airflow and the platform's local state."""
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AUTOML_HOME": str(automl_home),
    }
    for key, value in env.items():
        os.environ.setdefault(key, value)
    airflow_home.mkdir(parents=True, exist_ok=True)
    automl_home.mkdir(parents=True, exist_ok=True)
    return {k: os.environ[k] for k in env}


def migrate_db() -> None:
    """``airflow db migrate`` (idempotent) in a subprocess with the configured environment."""
    airflow = Path(sys.executable).parent / "airflow"
    cmd = [str(airflow)] if airflow.exists() else [sys.executable, "-m", "airflow"]
    proc = subprocess.run([*cmd, "db", "migrate"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def load_dags(dag_file: Path) -> dict[str, Any]:
    """Import a DAG file the way the DAG processor does and return its DAGs by id."""
    from airflow.sdk import DAG

    spec = importlib.util.spec_from_file_location(f"automl_dagfile_{abs(hash(dag_file))}", dag_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = {d.dag_id: d for d in vars(module).values() if isinstance(d, DAG)}
    for d in dags.values():  # as the DAG processor records it (the factory module built them)
        d.fileloc = str(dag_file)
    return dags


def run_dag_test(dag: Any, conf: dict[str, Any] | None = None) -> Any:
    """``dag.test()``: runs every task in this process, one at a time; returns the DagRun."""
    return dag.test(run_conf=conf or None)


_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")
_PROBLEM = re.compile(r"\[(error|critical) *\]|Traceback \(most recent call last\)")


def run_dag_test_quietly(dag: Any, log_path: Path, conf: dict[str, Any] | None = None) -> Any:
    """``dag.test()`` with Airflow's and the tasks' log lines written to ``log_path``, and one progress
    line per finished task (plus any error line) on the terminal. Returns the DagRun."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    saved_err = os.dup(2)
    target = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(target, 1)  # the fds: the worker processes the slots start inherit them too
    os.dup2(target, 2)
    os.close(target)
    done = threading.Event()
    started = time.monotonic()

    def follow() -> None:
        with open(log_path, errors="replace") as fh:
            while True:
                line = fh.readline()
                if not line:
                    if done.is_set():
                        return
                    time.sleep(0.2)
                    continue
                if m := _TASK_END.search(line):
                    slot = f" slot {m.group(2)}" if m.group(2) != "-1" else ""
                    terminal.write(f"   {time.monotonic() - started:6.0f} s  {m.group(1)}{slot} done\n")
                elif _PROBLEM.search(line):
                    terminal.write(f"   {line.strip()[:300]}\n")

    thread = threading.Thread(target=follow, name="dag-test-progress", daemon=True)
    thread.start()
    try:
        return dag.test(run_conf=conf or None)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(terminal.fileno(), 1)
        os.dup2(saved_err, 2)
        os.close(saved_err)
        done.set()
        thread.join()
        terminal.close()
