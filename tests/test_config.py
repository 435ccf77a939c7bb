import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from helpers import make_config
from pydantic import BaseModel

from automl.config import ConfigError, StudyConfig, load_config

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


def test_a_config_without_model_space_searches_the_default_families_of_its_task() -> None:
    assert make_config(model_space=None).model_space == ["lightgbm", "random_forest", "logistic_regression"]
    reg = make_config(task="regression", metric="rmse", model_space=None)
    assert reg.model_space == ["lightgbm", "random_forest", "ridge"]
    with pytest.raises(ConfigError, match="model_space"):
        make_config(model_space=[])  # an explicit empty list is a mistake, not a request for the default


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


def test_env_reference_in_storage_is_expanded_only_where_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_MY_PG", "postgresql+psycopg://u:secret@h/db")
    cfg = make_config(storage="${AUTOML_MY_PG}")
    assert cfg.storage_url == "postgresql+psycopg://u:secret@h/db"
    assert "u:secret" not in cfg.model_dump_json()  # what is written keeps the reference
    assert cfg.model_dump()["storage"] == "${AUTOML_MY_PG}"
    monkeypatch.delenv("AUTOML_MY_PG")
    with pytest.raises(ConfigError, match="AUTOML_MY_PG"):
        make_config(storage="${AUTOML_MY_PG}")


def test_env_reference_outside_the_allowed_names_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "jwt")
    with pytest.raises(ConfigError, match="AIRFLOW__API_AUTH__JWT_SECRET"):
        make_config(tracking_uri="http://evil.example/${AIRFLOW__API_AUTH__JWT_SECRET}")
    monkeypatch.setenv("TEAM_PG", "postgresql+psycopg://u@h/db")
    with pytest.raises(ConfigError, match="TEAM_PG"):
        make_config(storage="${TEAM_PG}")
    monkeypatch.setenv("AUTOML_ALLOWED_ENV_VARS", "OTHER, TEAM_PG")
    assert make_config(storage="${TEAM_PG}").storage_url == "postgresql+psycopg://u@h/db"


def test_a_literal_credential_in_a_url_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("postgresql+psycopg://u:secret@h/db", "postgresql://h/db?password=secret"):
        with pytest.raises(ConfigError, match="credential in clear text"):
            make_config(storage=url)
    with pytest.raises(ConfigError, match="credential in clear text"):
        make_config(tracking_uri="https://u:secret@mlflow.example")
    # a user name alone is no credential; a reference in the password's place is fine
    assert make_config(storage="postgresql+psycopg://postgres@127.0.0.1:5432/db").storage
    monkeypatch.setenv("AUTOML_PW", "pw")
    cfg = make_config(storage="postgresql+psycopg://u:${AUTOML_PW}@h/db")
    assert (
        cfg.storage_url == "postgresql+psycopg://u:pw@h/db"
        and cfg.storage == "postgresql+psycopg://u:${AUTOML_PW}@h/db"
    )


def test_conn_ids_exclude_urls_and_need_the_environment_outside_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not both"):
        make_config(storage="sqlite:///x.db", storage_conn_id="team_pg")
    cfg = make_config(storage_conn_id="team_pg", tracking_conn_id="team_mlflow")
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="AUTOML_STORAGE"):
        _ = cfg.storage_url
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_URI"):
        _ = cfg.mlflow_uri
    monkeypatch.setenv("AUTOML_STORAGE", "sqlite:///y.db")
    assert cfg.storage_url == "sqlite:///y.db"


def test_redaction_of_every_credential_form() -> None:
    from automl.redact import redact, redact_text

    assert redact("postgresql+psycopg://u:p@ss@h:5/db") == "postgresql+psycopg://u:***@h:5/db"
    assert redact("postgresql://:secret@h/db") == "postgresql://:***@h/db"
    assert redact("postgresql://h/db?user=u&password=x1&sslmode=require") == (
        "postgresql://h/db?user=u&password=***&sslmode=require"
    )
    assert "tok" not in redact_text("error: cannot reach https://tok@h/api (timeout)")


def test_overrides_are_validated() -> None:
    cfg = make_config()
    assert cfg.with_overrides({"n_trials": 9, "sampler": "tpe"}).budget.n_trials == 9
    assert cfg.with_overrides({"n_trials": 9}).n_slots == 5
    with pytest.raises(ConfigError, match="n_trials"):
        cfg.with_overrides({"n_trials": -1})
    with pytest.raises(ConfigError, match="unknown override"):
        cfg.with_overrides({"metric": "accuracy"})


def test_importing_the_config_pulls_no_heavy_library() -> None:
    """The config is imported at DAG-parse time: the registries it validates against stay light."""
    code = (
        "import sys, automl.config; "
        "print(sorted(m for m in ('numpy', 'sklearn', 'optuna', 'torch', 'mlflow', 'lightgbm', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_field_has_a_description() -> None:
    """The generated config reference lists each field with its description."""
    missing = []
    todo: list[type[BaseModel]] = [StudyConfig]
    seen: set[type[BaseModel]] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            for arg in (field.annotation, *get_args(field.annotation)):
                for inner in (arg, *get_args(arg)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        todo.append(inner)
    assert len(seen) >= 12 and not missing, missing
