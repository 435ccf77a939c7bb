"""Two worker processes against one PostgreSQL study storage (acceptance 3)."""

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
from helpers import make_config
from optuna.trial import TrialState

from automl.data import read_dataset
from automl.storage import StorageError, get_storage
from automl.study import create_or_open, open_study
from automl.worker import worker_command

pytestmark = pytest.mark.postgres


def test_two_worker_processes_complete_exactly_n_trials(postgres_url: str, tmp_path: Path) -> None:
    n_trials = 8
    cfg = make_config(
        storage=postgres_url,
        model_space=["lightgbm", "logistic_regression"],
        sampler="tpe",
        budget={"n_trials": n_trials, "trials_per_slot": 4, "parallelism": 2, "cv_folds": 2},
    )
    name = f"pg-two-workers-{uuid.uuid4().hex[:8]}"
    create_or_open(cfg, name)
    config_path, data_path = tmp_path / "config.json", tmp_path / "train.parquet"
    config_path.write_text(cfg.model_dump_json())
    read_dataset("sklearn:breast_cancer").sample(250, random_state=0).to_parquet(data_path)
    try:
        procs = [
            subprocess.Popen(
                worker_command(name, slot, str(config_path), str(data_path), None),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for slot in range(cfg.n_slots)
        ]
        outputs = [p.communicate(timeout=240)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        trials = open_study(cfg, name).get_trials(deepcopy=False)
        assert len(trials) == n_trials
        numbers = [t.number for t in trials]
        assert len(set(numbers)) == n_trials and sorted(numbers) == list(range(n_trials))
        keys = Counter(t.user_attrs["slot_key"] for t in trials)
        assert set(keys.values()) == {1} and len(keys) == n_trials
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        # both processes really ran trials
        assert all("finished trials [" in out and "finished trials []" not in out for out in outputs), outputs
        # a retried slot adds nothing
        rerun = subprocess.run(
            worker_command(name, 0, str(config_path), str(data_path), None), capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert len(open_study(cfg, name).trials) == n_trials
    finally:
        optuna.delete_study(study_name=name, storage=get_storage(postgres_url))


def test_unreachable_storage_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # a literal password is a config error; one from an AUTOML_ variable must not show in the message
    monkeypatch.setenv("AUTOML_TEST_PG_PW", "pw")
    cfg = make_config(storage="postgresql+psycopg://nobody:${AUTOML_TEST_PG_PW}@127.0.0.1:1/none")
    with pytest.raises(StorageError, match=r"cannot open study storage postgresql\+psycopg://nobody:\*\*\*@") as err:
        create_or_open(cfg, "x")
    assert "pw@" not in str(err.value)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
