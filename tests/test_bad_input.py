"""Bad input, table-driven: each case gives ONE clear error that names the field, column or file,
and leaves no partial state (no run folder, no study, no MLflow run).

Every case goes through the entry point that meets it in a DAG run: the config file
(``load_config``, what the DAG factory reads), the trigger form (``effective_config``), the
``load_data`` stage, or the ``create_study`` stage (storage and tracking server)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import make_config

from automl.config import ConfigError, load_config
from automl.data import DataError
from automl.pipeline import LoadedData, RunContext, SelectedFeatures
from automl.pipeline.data import load_data
from automl.pipeline.search import create_study
from automl.storage import StorageError
from automl.tracking import TrackingError

GOOD: dict[str, Any] = {
    "name": "bad_input",
    "dataset": {"source": "sklearn:breast_cancer", "target": "target"},
    "task": "classification",
    "metric": "roc_auc",
    "model_space": ["logistic_regression"],
    "budget": {"n_trials": 2, "cv_folds": 2},
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on return: nothing listens there


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in patch.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


@dataclass
class Case:
    id: str
    run: Callable[[Path], Any]  # raises
    error: type[Exception]
    names: tuple[str, ...]  # each must appear in the message


# ---------------------------------------------------------------- the config file
def config_file(text_or_patch: str | dict[str, Any]) -> Callable[[Path], Any]:
    def run(tmp: Path) -> Any:
        path = tmp / "study.yaml"
        if isinstance(text_or_patch, str):
            path.write_text(text_or_patch)
        else:
            path.write_text(yaml.safe_dump(_merge(GOOD, text_or_patch)))
        return load_config(path)

    return run


# ---------------------------------------------------------------- the trigger form
def override(params: dict[str, Any]) -> Callable[[Path], Any]:
    def run(tmp: Path) -> Any:
        from automl_airflow.factory import effective_config

        return effective_config(make_config(), params)

    return run


# ---------------------------------------------------------------- the data (load_data stage)
def data(frame: pd.DataFrame, **config: Any) -> Callable[[Path], Any]:
    def run(tmp: Path) -> Any:
        path = tmp / "data.csv"
        frame.to_csv(path, index=False)
        cfg = make_config(dataset={"source": str(path), "target": "label"}, **config)
        return load_data(RunContext.new(cfg, "bad__run"))

    return run


def relational_mismatch(tmp: Path) -> Any:
    customers = pd.DataFrame({"customer_id": range(1, 21), "label": [0, 1] * 10, "age": range(20)})
    orders = pd.DataFrame({"order_id": range(40), "customer": [f"C{i % 20 + 1}" for i in range(40)]})
    customers.to_csv(tmp / "customers.csv", index=False)
    orders.to_csv(tmp / "orders.csv", index=False)
    cfg = make_config(
        dataset={
            "source": None,
            "target": "label",
            "tables": {
                "customers": {"path": str(tmp / "customers.csv"), "index": "customer_id"},
                "orders": {"path": str(tmp / "orders.csv"), "index": "order_id"},
            },
            "relationships": [
                {"parent": "customers", "child": "orders", "parent_column": "customer_id", "child_column": "customer"}
            ],
            "target_table": "customers",
        }
    )
    return load_data(RunContext.new(cfg, "bad__run"))


N = 40
OK_X = np.arange(N, dtype=float)


# ---------------------------------------------------------------- storage / tracking (create_study stage)
os.environ.setdefault("AUTOML_TEST_BAD_INPUT_PW", "s3cret")  # read where the storage URL is used


def create_study_with(**config: Any) -> Callable[[Path], Any]:
    def run(tmp: Path) -> Any:
        cfg = make_config(**config)
        config_path = tmp / "config.json"
        config_path.write_text(cfg.model_dump_json())
        report = tmp / "selection.json"
        report.write_text("{}")
        definitions = tmp / "defs.json"
        definitions.write_text("{}")
        return create_study(
            RunContext(str(config_path), "bad__run", {"dag_id": "d", "run_id": "r"}),
            LoadedData("bad__run", str(config_path), "x", "x", summary={}, meta={}),
            SelectedFeatures("x", "x", str(definitions), n_generated=0, n_selected=0, report=str(report)),
        )

    return run


CASES = [
    Case("yaml-syntax", config_file("name: x\ndataset: {source: sklearn:wine, target: [oops\n"), ConfigError,
         ("malformed YAML", "study.yaml")),
    Case("not-a-mapping", config_file("- a\n- b\n"), ConfigError, ("expected a mapping", "study.yaml")),
    Case("wrong-type", config_file({"budget": {"n_trials": "many"}}), ConfigError, ("budget.n_trials",)),
    Case("negative-budget", config_file({"budget": {"n_trials": -5}}), ConfigError, ("budget.n_trials",)),
    Case("unknown-sampler", config_file({"sampler": "annealing"}), ConfigError, ("sampler", "annealing")),
    Case("metric-for-other-task", config_file({"metric": "rmse"}), ConfigError, ("metric", "rmse")),
    Case("unknown-metric", config_file({"metric": "auc_pr_weird"}), ConfigError, ("metric", "auc_pr_weird")),
    Case("unknown-model-space", config_file({"model_space": ["xgboost_v9"]}), ConfigError,
         ("model_space", "xgboost_v9")),
    Case("typo-field", config_file({"budjet": {"n_trials": 3}}), ConfigError, ("budjet",)),
    Case("holdout-out-of-range", config_file({"dataset": {"holdout_fraction": 1.5}}), ConfigError,
         ("dataset.holdout_fraction",)),
    Case("empty-heartbeat-range", config_file({"pruning": {"heartbeat_interval_s": 30, "stale_after_s": 10}}),
         ConfigError, ("stale_after_s",)),
    Case("storage-bad-scheme", config_file({"storage": "postgres//db/optuna"}), ConfigError, ("storage",)),
    Case("storage-proxy-no-port", config_file({"storage": "grpc://proxyhost"}), ConfigError,
         ("storage", "grpc://host:port")),
    Case("storage-env-unset", config_file({"storage": "${AUTOML_TEST_UNSET_VAR}"}), ConfigError,
         ("storage", "AUTOML_TEST_UNSET_VAR")),
    Case("dataset-file-kind", config_file({"dataset": {"source": "data.xlsx"}}), ConfigError, ("dataset.source",)),
    Case("relationship-unknown-table",
         config_file({"dataset": {"source": None, "tables": {"a": {"path": "a.csv", "index": "id"}},
                                  "target_table": "a", "relationships": [{"parent": "a", "child": "zz"}]}}),
         ConfigError, ("relationships", "zz")),
    Case("ui-param-invalid", override({"n_trials": 0}), ConfigError, ("n_trials",)),
    Case("ui-param-unknown-sampler", override({"sampler": "bogus"}), ConfigError, ("sampler", "bogus")),
    Case("ui-param-wrong-type", override({"timeout_s": "an hour"}), ConfigError, ("timeout_s", "an hour")),
    Case("target-missing", data(pd.DataFrame({"a": OK_X, "b": OK_X})), DataError, ("label", "not found")),
    Case("empty", data(pd.DataFrame({"a": [], "label": []})), DataError, ("empty",)),
    Case("all-nan-target", data(pd.DataFrame({"a": OK_X, "label": [np.nan] * N})), DataError,
         ("label", "entirely missing")),
    Case("single-class", data(pd.DataFrame({"a": OK_X, "label": [1] * N})), DataError, ("label", "single class")),
    Case("one-row", data(pd.DataFrame({"a": [1.0], "label": [2.5]}), task="regression", metric="rmse",
                         model_space=["ridge"]), DataError, ("1 usable rows",)),
    Case("garbage-in-numeric", data(pd.DataFrame({"a": [*map(str, OK_X[:-1]), "n/a?"], "label": [0, 1] * (N // 2)})),
         DataError, ("'a'", "n/a?")),
    Case("regression-target-text", data(pd.DataFrame({"a": OK_X, "label": ["x", "y"] * (N // 2)}), task="regression",
                                        metric="rmse", model_space=["ridge"]), DataError, ("label", "not numeric")),
    Case("relationship-keys-mismatch", relational_mismatch, DataError, ("customers->orders", "orders.customer")),
    # the password comes from an AUTOML_ variable (a literal one is a config error): the message must not show it
    Case("storage-unreachable",
         create_study_with(storage="postgresql+psycopg://u:${AUTOML_TEST_BAD_INPUT_PW}@127.0.0.1:1/none"),
         StorageError, ("cannot open study storage", "postgresql+psycopg://u:***@127.0.0.1:1/none")),
    Case("storage-proxy-unreachable", create_study_with(storage=f"grpc://127.0.0.1:{_closed_port()}"), StorageError,
         ("storage proxy", "grpc://127.0.0.1:")),
    Case("mlflow-unreachable", create_study_with(tracking_uri=f"http://127.0.0.1:{_closed_port()}"), TrackingError,
         ("MLflow tracking server", "http://127.0.0.1:")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_error_and_no_partial_state(
    case: Case, automl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOML_TEST_UNSET_VAR", raising=False)
    automl_home.mkdir(parents=True, exist_ok=True)
    before = sorted(p.relative_to(automl_home) for p in automl_home.rglob("*"))
    with pytest.raises(case.error) as err:
        case.run(tmp_path)
    msg = str(err.value)
    for name in case.names:
        assert name in msg, f"{case.id}: {name!r} not in error: {msg}"
    assert "Traceback" not in msg and len(msg) < 2500
    assert "s3cret" not in msg  # a password never reaches an error message
    # no partial state: no run folder, no study, no MLflow run
    after = sorted(p.relative_to(automl_home) for p in automl_home.rglob("*"))
    assert [p for p in after if p not in before and p.parts[0] == "runs"] == []
    _assert_no_study_and_no_mlflow_run(automl_home)


def _assert_no_study_and_no_mlflow_run(home: Path) -> None:
    import optuna

    from automl.storage import get_storage

    optuna_db = home / "optuna.db"
    if optuna_db.exists():
        assert optuna.get_all_study_names(get_storage(f"sqlite:///{optuna_db}")) == []
    mlflow_db = home / "mlflow.db"
    if mlflow_db.exists():
        from mlflow.tracking import MlflowClient

        c = MlflowClient(f"sqlite:///{mlflow_db}")
        runs = [r for e in c.search_experiments() for r in c.search_runs([e.experiment_id])]
        assert runs == []


def test_the_suite_is_broad() -> None:
    assert len(CASES) >= 20
    assert json.dumps([c.id for c in CASES])  # ids are unique strings
    assert len({c.id for c in CASES}) == len(CASES)
