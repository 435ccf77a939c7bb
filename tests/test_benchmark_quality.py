"""The quality benchmark end to end: ``--quick`` with a small budget runs ours, plain TPE, the LightGBM
floor and FLAML (when the bench extra is installed) and reports sane, well-formed figures; a CSV
dataset can be added by path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"bench", "datasets", "wins_vs_tpe", "wins_vs_flaml", "worst_rel_gap", "overhead_ms_per_trial", "utilization"}


def run_bench(*args: str, timeout: int = 600) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout


@pytest.mark.slow
def test_quick_run_reports_every_method(tmp_path: Path) -> None:
    has_flaml = importlib.util.find_spec("flaml") is not None
    methods = ["ours", "tpe", "lgbm_default"] + (["flaml"] if has_flaml else [])  # random: tpe's code path
    out = tmp_path / "quality.json"
    last, stdout = run_bench("--quick", "--budget", "20", "--methods", *methods, "--out", str(out))
    assert set(last) == KEYS and last["bench"] == "quality" and last["datasets"] == 1, stdout
    assert last["wins_vs_tpe"] in (0, 1)
    assert last["wins_vs_flaml"] in ((0, 1) if has_flaml else (None,))
    assert 0.0 <= last["worst_rel_gap"] < 0.1  # roc_auc on breast_cancer: every method is far above chance
    assert last["overhead_ms_per_trial"] > 0 and 0.0 < last["utilization"] <= 1.05
    assert "| breast_cancer | roc_auc | ours | 0 |" in stdout and "Goals" in stdout

    report = json.loads(out.read_text())
    rows = {r["method"]: r for r in report["rows"]}
    assert sorted(rows) == sorted(methods) and not report["summary"]["failed_runs"]
    for r in rows.values():
        assert 0.9 < r["holdout"] <= 1.0 and 0.9 < r["best_cv"] <= 1.0, r
        assert r["trials"] >= 1 and r["cpu_s"] > 0 and r["wall_s"] > 0
    ours, tpe = rows["ours"], rows["tpe"]
    assert ours["trials"] >= 2 and tpe["trials"] >= 2 and rows["lgbm_default"]["trials"] == 1
    assert ours["search_s"] >= 16  # time-bound: the trial phase lasts about the budget
    assert ours["trials"] >= ours["pruned"] + ours["budget_cut"]
    assert ours["curve"] and ours["curve"][-1][1] == pytest.approx(ours["best_cv"])
    # ours is what users run: the pipeline through the local runner (`automl run`), every step up to the holdout
    from automl.pipeline import PIPELINE

    steps = [s.name for s in PIPELINE]
    assert ours["runner"] == "automl.pipeline.runner.LocalRunner"
    assert list(ours["phases"]) == steps[: steps.index("evaluate_holdout") + 1]
    summary = report["summary"]["per_dataset"]["breast_cancer"]
    assert summary["ours_rank"] in range(1, len(methods) + 1)


def test_custom_csv_dataset(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    csv = tmp_path / "diab.csv"
    load_diabetes(as_frame=True).frame.to_csv(csv, index=False)
    last, stdout = run_bench(
        "--dataset",
        f"{csv}:target:regression",
        "--methods",
        "lgbm_default",
        "--seeds",
        "0",
        "--out",
        str(tmp_path / "q.json"),
    )
    assert last["datasets"] == 0  # no 'ours' run: nothing to compare
    row = json.loads((tmp_path / "q.json").read_text())["rows"][0]
    assert row["dataset"] == "diab" and row["metric"] == "rmse" and 30 < row["holdout"] < 90

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.quality",
            "--dataset",
            f"{csv}:nope:regression",
            "--methods",
            "lgbm_default",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "target column 'nope'" in bad.stderr
