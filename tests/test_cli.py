"""The `automl` command: validate, run (real worker processes, central pruning), leaderboard."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _automl(*args: str, env_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if env_home is not None:
        env["AUTOML_HOME"] = str(env_home)
    return subprocess.run(
        [sys.executable, "-m", "automl.cli", *args], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT
    )


def test_validate_accepts_the_demo_and_rejects_a_bad_config(tmp_path: Path) -> None:
    ok = _automl("validate", "dags/studies/demo_breast_cancer.yaml")
    assert ok.returncode == 0 and "valid study 'demo_breast_cancer'" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: nope\nmodel_space: [lightgbm]\n")
    res = _automl("validate", str(bad))
    assert res.returncode == 2
    assert "task" in res.stderr and "dataset" in res.stderr and "metric" in res.stderr


@pytest.mark.slow
def test_run_then_leaderboard(tmp_path: Path) -> None:
    config = tmp_path / "cli.yaml"
    config.write_text("""\
name: clistudy
dataset: {source: "sklearn:wine", target: target}
task: classification
metric: accuracy
model_space: [logistic_regression]
sampler: random
pruning: {rule: none}
features: {trans_primitives: []}
budget: {n_trials: 4, parallelism: 2, trials_per_slot: 2, cv_folds: 2}
""")
    home = tmp_path / "home"
    run = _automl("run", str(config), "--total-s", "900", env_home=home)  # a budget far above the run's time
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "trials: 4 complete" in run.stdout and "holdout accuracy:" in run.stdout
    # the progress bar (stderr): trials done of n_trials, pruned, best so far
    bar = run.stderr.replace("\r", "\n").splitlines()
    assert any("4/4" in line and "pruned 0" in line and "best 0." in line for line in bar), run.stderr[-1500:]
    studies = _automl("studies", str(config), env_home=home).stdout.split()
    assert len(studies) == 1 and studies[0].startswith("clistudy__cli__")
    (saved,) = home.glob("runs/clistudy__cli__*/config.json")  # the run's effective config has the override
    assert json.loads(saved.read_text())["budget"]["total_s"] == 900
    board = _automl("leaderboard", studies[0], "--config", str(config), env_home=home)
    assert board.returncode == 0 and len(board.stdout.strip().splitlines()) == 1 + 4
    # without --config: the config stored with the study; or a config file: its latest study
    assert _automl("leaderboard", studies[0], env_home=home).stdout == board.stdout
    latest = _automl("leaderboard", str(config), env_home=home)
    assert latest.stdout == board.stdout and studies[0] in latest.stderr
    missing = _automl("leaderboard", "nope", "--config", str(config), env_home=home)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert _automl("leaderboard", "nope", env_home=home).returncode == 2
