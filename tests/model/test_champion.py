"""Acceptance 3: champion/challenger on the new run's holdout; tags and the parent run's note say why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from automl import tracking
from automl.model import champion
from model.fixtures import study_config, train


def _xor_csv(folder: Path) -> Path:
    """The label is the sign of a*b (plus noise): a linear model cannot learn it, trees can, the DFS product gives it away."""
    rng = np.random.RandomState(7)
    n = 300
    a, b = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"a": a.round(3), "b": b.round(3), "colour": rng.choice(["red", "blue"], size=n)})
    frame["label"] = np.where(a * b + 0.3 * rng.normal(size=n) > 0, "pos", "neg")
    frame.loc[rng.rand(n) < 0.05, "colour"] = None
    csv = folder / "xor.csv"
    frame.to_csv(csv, index=False)
    return csv


def test_worse_run_keeps_the_champion_a_better_one_takes_it(session_dir: Path) -> None:
    csv = _xor_csv(session_dir)
    no_features = {"enabled": False, "select": False}
    registry = {"model_name": "automl-champion-test"}
    one = {"budget": {"n_trials": 1, "parallelism": 1, "trials_per_slot": 1, "cv_folds": 2, "max_rounds": 60}}
    runs = [
        # 1: trees on the raw columns: the first version, champion
        study_config("cc", csv, features=no_features, registry=registry, **one),
        # 2: a linear model on the raw columns cannot learn the sign of a*b: worse, champion kept
        study_config("cc", csv, features=no_features, registry=registry, **one, model_space=["logistic_regression"]),
        # 3: DFS's product a*b: better, it takes the champion alias
        study_config("cc", csv, registry=registry, **one),
    ]
    results = [train(cfg, f"cc{i}") for i, cfg in enumerate(runs, start=1)]
    registered = [r.registered for r in results]
    config = runs[0]
    c = tracking.client(config)
    name = "automl-champion-test"
    assert [r.version for r in registered] == ["1", "2", "3"]
    reasons = [tracking.client(runs[0]).get_model_version("automl-champion-test", r.version).tags for r in registered]
    assert [r.champion for r in registered] == [True, False, True], reasons
    assert str(c.get_model_version_by_alias(name, "champion").version) == "3"
    assert str(c.get_model_version_by_alias(name, "challenger").version) == "3"

    tags = [c.get_model_version(name, str(v)).tags for v in (1, 2, 3)]
    assert tags[0]["promotion"] == "champion" and tags[0]["champion_version"] == ""
    assert tags[1]["promotion"] == "challenger" and tags[1]["champion_version"] == "1"
    assert float(tags[1]["holdout_roc_auc"]) < float(tags[1]["champion_holdout_roc_auc"])
    assert "does not beat the champion" in tags[1]["promotion_reason"]
    assert tags[2]["promotion"] == "champion" and tags[2]["champion_version"] == "1"
    assert float(tags[2]["holdout_roc_auc"]) > float(tags[2]["champion_holdout_roc_auc"])
    # the parent run's note says what happened and why
    note = c.get_run(registered[1].parent_run_id).data.tags[tracking.TAG_NOTE]
    assert "version 2: challenger" in note and "champion kept" in note and "version 1" in note
    assert "**champion**" in c.get_run(registered[2].parent_run_id).data.tags[tracking.TAG_NOTE]
    assert c.get_run(registered[1].parent_run_id).data.tags["automl.promotion"].startswith("challenger: holdout")

    # an operator pins the champion: with auto_promote off a better version only says it would take it
    pinned = config.model_copy(update={"registry": config.registry.model_copy(update={"auto_promote": False})})
    c.set_registered_model_alias(name, "champion", "2")
    holdout = pd.read_parquet(results[2].outputs["load_data"].holdout)
    score = float(tags[2]["holdout_roc_auc"])
    decision = champion.decide(pinned, name, "3", score, holdout)
    assert not decision.promoted and "auto_promote is off: it would take champion" in decision.reason
