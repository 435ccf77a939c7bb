"""The worker's own deadline (automl.pruning.guard): a trial still running ``budget.overrun_s`` past the study's
deadline is ended PRUNED by its worker, once a first trial has completed; a trial that ends in time is left alone;
the worker process reports its slot and exits 0."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from helpers import make_config
from optuna.trial import TrialState

from automl.pruning.control import FORCED_KEY
from automl.pruning.guard import DeadlineGuard
from automl.study import create_or_open, open_study
from automl.worker import RESULT_PREFIX, parse_slot_result


def _study(tmp_path: Path) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 'g.db'}", direction="maximize")


def test_a_trial_past_the_deadline_ends_once_a_first_trial_has_completed(tmp_path: Path) -> None:
    config = make_config(budget={"total_s": 60, "overrun_s": 0.5})
    study = _study(tmp_path)
    running = study.ask()
    expired = threading.Event()
    with DeadlineGuard(study, running, config, time.time() - 1.0, expired.set) as guard:
        # past the deadline, but no trial has completed: the first trials run to the end (late, not empty)
        assert not expired.wait(2.0)
        assert study.trials[running.number].state == TrialState.RUNNING
        done = study.ask()
        study.tell(done, 0.9)
        assert expired.wait(5.0)  # the guard looks again every second
    t = study.trials[running.number]
    assert guard.expired and t.state == TrialState.PRUNED
    assert "after the study's deadline: ended by its worker" in t.system_attrs[FORCED_KEY]


def test_a_trial_that_ends_in_time_is_left_alone(tmp_path: Path) -> None:
    config = make_config(budget={"total_s": 60, "overrun_s": 0.5})
    study = _study(tmp_path)
    study.tell(study.ask(), 0.8)
    trial = study.ask()
    expired = threading.Event()
    with DeadlineGuard(study, trial, config, time.time() + 0.3, expired.set) as guard:
        pass  # the trial ends before deadline + overrun
    study.tell(trial, 0.9)
    assert not expired.wait(1.5) and not guard.expired
    assert study.trials[trial.number].state == TrialState.COMPLETE
    with DeadlineGuard(study, study.ask(), config, None, expired.set) as unguarded:  # no deadline: no thread
        assert not unguarded._thread.is_alive()


def test_the_worker_ends_a_trial_that_reports_too_rarely_and_exits_zero(automl_home: Path, tmp_path: Path) -> None:
    """A random forest reports once per fold; here one fold takes far longer than the budget left."""
    config = make_config(
        model_space=["random_forest"],
        budget={"n_trials": 2, "trials_per_slot": 2, "parallelism": 1, "total_s": 600, "overrun_s": 1},
    )
    study = create_or_open(config, "guard")
    study.tell(study.ask(), 0.9)  # a first trial has completed: the deadline holds
    # the largest forest of the space (one family: no "model" parameter, no prefix)
    study.enqueue_trial({"n_estimators": 300, "max_depth": 24, "min_samples_leaf": 1, "max_features": 1.0})
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30_000, 30)), columns=[f"x{i}" for i in range(30)])
    y = (X["x0"] + rng.normal(size=len(X)) > 0).astype(int)
    config_path, data_path = tmp_path / "c.json", tmp_path / "d.parquet"
    config_path.write_text(config.model_dump_json())
    X.assign(target=y).to_parquet(data_path)
    deadline = time.time() + 10.0  # the worker starts (a few seconds), then its forest trains far past this
    study.set_user_attr("deadline", deadline)
    cmd = [sys.executable, "-m", "automl.worker", "--study", "guard", "--slot", "0"]
    proc = subprocess.run(
        [*cmd, "--config", str(config_path), "--data", str(data_path)], capture_output=True, text=True, timeout=120
    )
    ended = time.time()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ended - deadline < 1 + 5, ended - deadline  # overrun_s, the guard's poll, the slot's report
    trials = open_study(config, "guard").trials
    forest = [t for t in trials if t.user_attrs.get("slot_key")]
    assert [t.user_attrs["slot_key"] for t in forest] == ["0:0"]  # the slot ended: its second trial never started
    assert forest[0].state == TrialState.PRUNED and "ended by its worker" in forest[0].system_attrs[FORCED_KEY]
    assert forest[0].params["n_estimators"] == 300 and forest[0].user_attrs["fit_cpu_s"] > 5  # its work so far
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    result = parse_slot_result(line)
    assert result is not None and result["slot"] == 0 and result["trials"] == []
