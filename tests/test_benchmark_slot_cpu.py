"""``benchmarks.slot_cpu``: one slot's CPU split into fitting, the slot thread's other work and other threads,
with the worker's thread pools limited to one thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_slot_cpu_splits_a_slots_cpu(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.slot_cpu", "--dataset", "wine", "--trials", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AUTOML_HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bench"] == "slot_cpu" and out["trials"] == 6 and out["pools"] == "one"
    assert 0 < out["fit_cpu_s"] <= out["slot_thread_cpu_s"] <= out["cpu_s"]
    assert 0 <= out["mlflow_thread_cpu_s"] <= out["other_threads_cpu_s"] + 0.05
    assert out["overhead_ms_per_trial"] > 0
    assert "TPE sample_relative" in proc.stdout or "Study.ask" in proc.stdout
