"""Study identity: one study per run id and effective config, never shared by accident; a re-run on changed
data never reuses old trials; a registered model takes versions from its own study config only."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_config
from sklearn.datasets import load_breast_cancer

from automl.config import ConfigError
from automl.pipeline import study_name_for


def test_long_run_ids_and_prefix_overlapping_names_never_share_a_study() -> None:
    base = "manual__" + "x" * 292
    a, b = base + "1", base + "2"  # 301 characters, equal for their first 300
    assert study_name_for(make_config(), a) != study_name_for(make_config(), b)
    assert len(study_name_for(make_config(), a)) <= 200
    assert study_name_for(make_config(), a) == study_name_for(make_config(), a)  # a retry reopens its own
    # config 'a' with run 'b__c' and config 'a__b' with run 'c' read alike as text
    assert study_name_for(make_config(name="a"), "b__c") != study_name_for(make_config(name="a__b"), "c")
    # the same run id with another effective config (the trigger form) is another study
    assert study_name_for(make_config(), "r") != study_name_for(make_config(budget={"n_trials": 5}), "r")


def test_a_rerun_after_the_data_changed_stops_with_a_clear_error(automl_home: Path, tmp_path: Path) -> None:
    from automl.pipeline import LocalRunner
    from automl.study import StudyMismatch

    csv = tmp_path / "data.csv"
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(csv, index=False)
    config = make_config(
        dataset={"source": str(csv), "target": "target"},
        features={"enabled": False, "select": False},
        warm_start={"enabled": False},
    )
    first = LocalRunner(config, "same-run", until="create_study").run()
    frame.loc[0, "mean radius"] += 1.0  # one cell changed
    frame.to_csv(csv, index=False)
    with pytest.raises(StudyMismatch, match="created from other data"):
        LocalRunner(config, "same-run", until="create_study").run()
    assert first.study_name == LocalRunner(config, "same-run").ctx.study_name  # the same id: the error, not a mix


def test_model_name_is_validated_and_owned_by_its_study_config(automl_home: Path) -> None:
    from mlflow.tracking import MlflowClient

    from automl.pipeline.model import ModelOwnedElsewhere, _check_model_owner

    with pytest.raises(ConfigError, match="registry.model_name"):
        make_config(registry={"model_name": "team b/model"})
    assert make_config(name="churn").registered_model_name == "automl-churn"
    c = MlflowClient(make_config().mlflow_uri)
    _check_model_owner(c, "shared-name", "team_a_config")
    _check_model_owner(c, "shared-name", "team_a_config")  # its own: again and again
    with pytest.raises(ModelOwnedElsewhere, match="belongs to study config 'team_a_config'"):
        _check_model_owner(c, "shared-name", "team_b_config")
