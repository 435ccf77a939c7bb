from pathlib import Path

import pytest
from helpers import make_config

from automl.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_study_config_validates() -> None:
    configs = sorted((ROOT / "dags" / "studies").glob("*.yaml"))
    assert configs, "dags/studies has no study config"
    for path in configs:
        cfg = load_config(path)
        assert cfg.name == path.stem


def test_malformed_yaml_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndataset: {source: sklearn:wine, target: [unclosed\n")
    with pytest.raises(ConfigError, match=r"malformed YAML"):
        load_config(bad)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)


def test_unknown_model_space_names_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        make_config(model_space=["lightgbm", "xgboost_v9"])
    msg = str(err.value)
    assert "model_space" in msg and "xgboost_v9" in msg and "lightgbm" in msg


def test_each_bad_field_is_reported() -> None:
    with pytest.raises(ConfigError) as err:
        make_config(budget={"n_trials": 0, "cv_folds": 1}, sampler="annealing", surprise=1)
    msg = str(err.value)
    for field in ("budget.n_trials", "budget.cv_folds", "sampler", "surprise"):
        assert field in msg, msg
    assert "4 problem(s)" in msg


def test_metric_task_and_direction_must_agree() -> None:
    with pytest.raises(ConfigError, match="does not apply to task"):
        make_config(metric="rmse")
    with pytest.raises(ConfigError, match="better when it is maximized"):
        make_config(direction="minimize")
    with pytest.raises(ConfigError, match="does not support task 'regression'"):
        make_config(task="regression", metric="rmse", model_space=["logistic_regression"])


def test_grid_needs_one_family() -> None:
    with pytest.raises(ConfigError, match="grid"):
        make_config(sampler="grid", model_space=["lightgbm", "random_forest"])


def test_dataset_source_kind() -> None:
    with pytest.raises(ConfigError, match="dataset.source"):
        make_config(dataset={"source": "data.xlsx", "target": "y"})


def test_env_reference_in_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PG", "postgresql+psycopg://u:secret@h/db")
    assert make_config(storage="${MY_PG}").storage_url == "postgresql+psycopg://u:secret@h/db"
    monkeypatch.delenv("MY_PG")
    with pytest.raises(ConfigError, match="MY_PG"):
        make_config(storage="${MY_PG}")


def test_overrides_are_validated() -> None:
    cfg = make_config()
    assert cfg.with_overrides({"n_trials": 9, "sampler": "tpe"}).budget.n_trials == 9
    assert cfg.with_overrides({"n_trials": 9}).n_slots == 5
    with pytest.raises(ConfigError, match="n_trials"):
        cfg.with_overrides({"n_trials": -1})
    with pytest.raises(ConfigError, match="unknown override"):
        cfg.with_overrides({"metric": "accuracy"})


@pytest.mark.parametrize(
    ("model_space", "pruning", "budget", "first"),
    [
        (["lightgbm"], {}, {"report_every": 10}, 10),  # the first report
        (["torch_mlp"], {}, {"max_epochs": 30}, 7),  # max_epochs // eta (4): early epochs rank by learning rate
        (["torch_cnn"], {"reduction_factor": 3}, {"max_epochs": 30}, 10),
        (["torch_mlp"], {}, {"max_epochs": 2}, 1),
        (["torch_mlp"], {"min_resource": 1}, {"max_epochs": 30}, 1),  # an explicit rung wins
        (["logistic_regression"], {}, {}, 1),  # one fold at a time
    ],
)
def test_first_rung_defaults_per_model_family(model_space: list, pruning: dict, budget: dict, first: int) -> None:
    extra = {
        "dataset": {"source": "sklearn:digits", "target": "target", "image_shape": [8, 8]},
        "metric": "accuracy",
        "features": {"enabled": False, "select": False},
    }
    config = make_config(model_space=model_space, pruning={"rule": "asha", **pruning}, budget=budget, **extra)
    assert config.first_rung == first
