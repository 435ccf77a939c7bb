"""automl.storage.compat: the Optuna version it was written for, and its accessors on real objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from automl.storage import compat, get_storage


@pytest.mark.parametrize("version", ["5.1.0", "4.5.0", "6.0.0", "5", "garbage"])
def test_other_optuna_series_are_refused(version: str) -> None:
    with pytest.raises(ImportError, match=rf"as of Optuna 5\.0\.x, but Optuna {version} is installed"):
        compat.check_optuna_version(version)


@pytest.mark.parametrize("version", ["5.0.0", "5.0.3", "5.0.10.dev0"])
def test_the_written_for_series_passes(version: str) -> None:
    compat.check_optuna_version(version)
    compat.check_optuna_version(optuna.__version__)  # the installed one (this module imported)


def test_import_fails_loudly_under_another_optuna() -> None:
    code = "import optuna; optuna.__version__ = '5.1.0'; import automl.storage.compat"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ImportError: automl.storage.compat uses Optuna's private API as of Optuna 5.0.x" in done.stderr


def test_accessors_on_a_real_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(study_name="c", storage=get_storage(url, heartbeat=(60, 120)))
    trial = study.ask()
    storage = compat.study_storage(study)
    assert compat.study_id(study) == storage.get_study_id_from_name("c")
    tid = compat.trial_id(trial)
    assert storage.get_trial(tid).number == trial.number == 0
    assert compat.trial_id(study.get_trials(deepcopy=False)[0]) == tid
    assert compat.is_heartbeat_enabled(storage)
    assert not compat.is_heartbeat_enabled(get_storage(url))
    assert compat.stale_trial_ids_rdb(storage, compat.study_id(study)) == []  # never beat
    study.tell(trial, 1.0)
    assert [t.number for t in compat.get_trials_filtered(storage, compat.study_id(study), None, set(), -1)] == [0]
