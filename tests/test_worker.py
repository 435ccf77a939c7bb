"""Trial slots: exact trial counts, resume on retry, replace a crashed attempt's trial."""

from pathlib import Path

import pandas as pd
import pytest
from helpers import make_config
from optuna.trial import TrialState

from automl.data import read_dataset
from automl.study import create_or_open, open_study, progress
from automl.worker import main, run_slot, slot_trial_count


@pytest.fixture
def xy() -> tuple[pd.DataFrame, pd.Series]:
    frame = read_dataset("sklearn:breast_cancer").sample(200, random_state=0).reset_index(drop=True)
    return frame.drop(columns=["target"]), frame["target"]


def test_slot_trial_counts_cover_n_trials_exactly() -> None:
    cfg = make_config(budget={"n_trials": 7, "trials_per_slot": 3})
    assert cfg.n_slots == 3
    assert [slot_trial_count(cfg, s) for s in range(3)] == [3, 3, 1]
    with pytest.raises(ValueError, match="outside"):
        slot_trial_count(cfg, 3)


def test_retried_slot_resumes_and_adds_no_trial(automl_home: Path, xy: tuple[pd.DataFrame, pd.Series]) -> None:
    cfg = make_config()
    create_or_open(cfg, "s1")
    first = run_slot(cfg, "s1", 0, *xy)
    assert len(first) == 2
    again = run_slot(cfg, "s1", 0, *xy)  # an Airflow retry of the same slot
    assert again == []
    run_slot(cfg, "s1", 1, *xy)
    study = open_study(cfg, "s1")
    assert len(study.trials) == 4
    assert sorted(t.user_attrs["slot_key"] for t in study.trials) == ["0:0", "0:1", "1:0", "1:1"]
    assert progress(study).complete == 4


def test_trial_left_running_by_a_crash_is_retried_not_duplicated(
    automl_home: Path, xy: tuple[pd.DataFrame, pd.Series]
) -> None:
    cfg = make_config(budget={"n_trials": 2, "trials_per_slot": 2})
    study = create_or_open(cfg, "s2")
    crashed = study.ask()  # what a killed attempt leaves behind
    crashed.suggest_float("C", 1e-4, 1e3, log=True)
    crashed.set_user_attr("slot_key", "0:0")
    run_slot(cfg, "s2", 0, *xy)
    trials = open_study(cfg, "s2").trials
    stale = trials[crashed.number]
    assert stale.state == TrialState.FAIL and "restarted" in stale.system_attrs["automl:failed_reason"]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == crashed.number]
    assert retry.params == stale.params and retry.state == TrialState.COMPLETE  # same parameters, run again
    assert retry.user_attrs["slot_key"] == "0:0"
    p = progress(open_study(cfg, "s2"))
    assert p.complete == 2 and p.failed == 0  # the retried failure is not a result of its own


def test_a_failing_configuration_fails_its_trial_not_the_slot(automl_home: Path) -> None:
    cfg = make_config(budget={"n_trials": 1, "trials_per_slot": 1})
    create_or_open(cfg, "s3")
    X = pd.DataFrame({"a": [float("nan")] * 40})  # imputer keeps an empty column; y has one class per fold
    y = pd.Series([0] * 40)
    run_slot(cfg, "s3", 0, X, y)
    (t,) = open_study(cfg, "s3").trials
    assert t.state == TrialState.FAIL and "error" in t.user_attrs


def test_worker_cli_runs_a_slot(automl_home: Path, tmp_path: Path, xy: tuple[pd.DataFrame, pd.Series]) -> None:
    cfg = make_config(budget={"n_trials": 1, "trials_per_slot": 1})
    create_or_open(cfg, "s4")
    config_path, data_path = tmp_path / "c.json", tmp_path / "d.parquet"
    config_path.write_text(cfg.model_dump_json())
    X, y = xy
    X.assign(target=y).to_parquet(data_path)
    assert main(["--study", "s4", "--slot", "0", "--config", str(config_path), "--data", str(data_path)]) == 0
    assert [t.state for t in open_study(cfg, "s4").trials] == [TrialState.COMPLETE]


@pytest.mark.parametrize("mode", ["central", "in_trial"])
def test_pruning_stops_poor_trials_early(automl_home: Path, xy: tuple[pd.DataFrame, pd.Series], mode: str) -> None:
    cfg = make_config(
        model_space=["lightgbm"],
        pruning={"rule": "asha", "min_resource": 20, "mode": mode, "min_trials_at_rung": 1},
        budget={
            "n_trials": 10,
            "trials_per_slot": 10,
            "cv_folds": 2,
            "max_rounds": 200,
            "report_every": 20,
            "early_stopping_rounds": 200,
        },
    )
    create_or_open(cfg, "s5")
    run_slot(cfg, "s5", 0, *xy)
    trials = open_study(cfg, "s5").trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "ASHA pruned nothing in 10 trials"
    for t in pruned:
        assert max(t.intermediate_values) == t.user_attrs["pruned_at_step"] < 200
        assert t.user_attrs["train_steps"] == 2 * t.user_attrs["pruned_at_step"]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(t.user_attrs["train_steps"] == 400 for t in complete)
