"""A small study trained once per session, shared by the tests of the registered model.

Registered in the root conftest (``pytest_plugins``). The data is what a user brings: a CSV with
string categories and blanks; DFS features are kept (``generated_must_help: false``), so the model
must recompute them from raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import _SESSION_DIR, TEST_DAGS

from automl.config import StudyConfig, load_config, parse_config

DATA = _SESSION_DIR / "model_data"
STUDY_YAML = TEST_DAGS / "studies" / "model_tiny.yaml"
SCORING_SOURCE = DATA / "next_month.csv"
SCORING_OUTPUT = DATA / "scored" / "predictions.parquet"


@dataclass
class TrainedStudy:
    config: StudyConfig
    csv: Path
    result: Any  # automl.pipeline.RunResult

    @property
    def name(self) -> str:
        return self.config.registered_model_name

    @property
    def raw_holdout(self) -> pd.DataFrame:
        data = self.result.outputs["load_data"]
        return pd.read_parquet(data.holdout)


def user_frame(n: int, seed: int) -> pd.DataFrame:
    """Rows like a user's CSV: numbers with blanks, a string category with blanks, string labels."""
    rng = np.random.RandomState(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    signal = a * b + 0.8 * (colour == "red") + 0.3 * rng.normal(size=n)
    frame = pd.DataFrame({"a": a.round(3), "b": b.round(3), "colour": colour, "visits": rng.randint(0, 20, size=n)})
    frame["label"] = np.where(signal > np.median(signal), "yes", "no")
    frame.loc[rng.rand(n) < 0.08, "a"] = np.nan
    frame.loc[rng.rand(n) < 0.08, "colour"] = None
    return frame


def study_config(name: str, csv: Path, **extra: Any) -> StudyConfig:
    data: dict[str, Any] = {
        "name": name,
        "dataset": {"source": str(csv), "target": "label", "holdout_fraction": 0.3},
        "task": "classification",
        "metric": "roc_auc",
        "model_space": ["lightgbm"],
        "sampler": "random",
        "pruning": {"rule": "none"},
        "features": {
            "trans_primitives": ["multiply_numeric"],
            "max_generated": 20,
            "generated_must_help": False,
            "leakage": {"action": "off"},
        },
        "budget": {"n_trials": 2, "parallelism": 1, "trials_per_slot": 2, "cv_folds": 2, "max_rounds": 60},
        "warm_start": {"enabled": False},
        "seed": 4,
        **extra,
    }
    return parse_config(data)


def train(config: StudyConfig, run_id: str) -> Any:
    from automl.pipeline import run_local

    result = run_local(config, run_id=run_id, poke_s=0.5)
    assert result.registered is not None, "the study registered no model"
    return result


def _write_study_yaml() -> None:
    """The study as a config in the test DAGs folder (its training DAG and its scoring DAG), written at
    import, before any DAG file is parsed."""
    import json

    data = study_config("model_tiny", DATA / "customers.csv").model_dump(mode="json", exclude_defaults=True)
    data["scoring"] = {"source": str(SCORING_SOURCE), "output": str(SCORING_OUTPUT)}
    STUDY_YAML.write_text(json.dumps(data))  # JSON is YAML


_write_study_yaml()


@pytest.fixture(scope="session")
def trained_study() -> TrainedStudy:
    """The session's small study on a user-like CSV (about 15 s), trained once and registered."""
    DATA.mkdir(exist_ok=True)
    csv = DATA / "customers.csv"
    user_frame(400, seed=1).to_csv(csv, index=False)
    config = load_config(STUDY_YAML)
    return TrainedStudy(config, csv, train(config, "first"))
