"""Relational DFS, cutoff times, the leakage guard and leak-proof selection."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import make_config

from automl.config import ConfigError, load_config, parse_config
from automl.data import DataError
from automl.pipeline import RunContext
from automl.pipeline.data import load_data
from automl.pipeline.features import generate_features, select_features
from feature_engineering.dfs import FeatureError
from feature_engineering.relational import RelationalDFS, Relationship, Table, build_entityset, calculate_relational
from feature_engineering.selection import LeakageGuard

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "dags" / "studies" / "mock_customer_heavy_buyer.yaml"


def _shop() -> tuple[dict[str, Table], list[Relationship]]:
    customers = pd.DataFrame({"cid": [1, 2], "joined": pd.to_datetime(["2020-01-01", "2020-01-01"])})
    orders = pd.DataFrame(
        {
            "oid": [10, 11, 12, 13, 14],
            "cid": [1, 1, 1, 2, 2],
            "at": pd.to_datetime(["2020-02-01", "2020-03-01", "2020-05-01", "2020-02-15", "2020-06-01"]),
            "amount": [10.0, 20.0, 1000.0, 5.0, 500.0],
        }
    )
    tables = {
        "customers": Table("customers", customers, "cid", "joined"),
        "orders": Table("orders", orders, "oid", "at"),
    }
    return tables, [Relationship("customers", "orders", "cid", "cid")]


def test_cutoff_time_excludes_later_rows() -> None:
    tables, rels = _shop()
    es = build_entityset(tables, rels)
    dfs = RelationalDFS(agg_primitives=["sum", "count"], trans_primitives=[], max_depth=1).fit(es, "customers")
    ids = pd.Series([1, 2])
    cut = pd.Series(pd.to_datetime(["2020-04-01", "2020-03-01"]))
    fm = calculate_relational(dfs.features_, es, ids, cut)
    assert fm["SUM(orders.amount)"].tolist() == [30.0, 5.0]  # the 1000 and the 500 came after the cutoffs
    assert fm["COUNT(orders)"].tolist() == [2.0, 1.0]
    everything = calculate_relational(dfs.features_, es, ids, None)
    assert everything["SUM(orders.amount)"].tolist() == [1030.0, 505.0]


def test_missing_columns_and_relationships_are_clear_errors(tmp_path: Path) -> None:
    tables, rels = _shop()
    with pytest.raises(FeatureError, match=r"column 'customer_id' does not exist in table 'orders'"):
        build_entityset(tables, [Relationship("customers", "orders", "cid", "customer_id")])
    bad = {**tables, "orders": Table("orders", tables["orders"].frame, "oid", "when")}
    with pytest.raises(FeatureError, match=r"time_index column 'when' does not exist"):
        build_entityset(bad, rels)
    # in a study config: a relationship to a table that is not declared
    text = DEMO.read_text().replace("{parent: products, child: transactions}", "{parent: vendors, child: transactions}")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"relationships\[2\] names table 'vendors'"):
        load_config(tmp_path / "bad.yaml")
    # a column that does not exist in the data: caught in load_data, before anything is written
    # (the demo's table paths are relative to its folder: parsed with that folder as the base)
    text = DEMO.read_text().replace("time_index: session_start", "time_index: started_at")
    cfg = parse_config(yaml.safe_load(text), source="bad2.yaml", base_dir=DEMO.parent)
    with pytest.raises(DataError, match=r"table 'sessions': time_index column 'started_at' does not exist"):
        load_data(RunContext.new(cfg, "never"))


def test_leakage_guard_catches_a_planted_column() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(rng.integers(0, 2, 300))
    X = pd.DataFrame(
        {"noise": rng.normal(size=300), "weak": y + rng.normal(0, 2, 300), "leak": y * 3.0 + rng.normal(0, 0.01, 300)}
    )
    guard = LeakageGuard("classification", threshold=0.99).fit(X, y)
    assert set(guard.leaks_) == {"leak"} and guard.scores_["noise"] < 0.7


def _single_config(tmp_path: Path, action: str):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    frame["label"] = (frame["a"] + rng.normal(0, 1, 400) > 0).astype(int)
    frame["leaky_copy"] = frame["label"] * 7 + 1
    path = tmp_path / "leaky.csv"
    frame.to_csv(path, index=False)
    return make_config(
        dataset={"source": str(path), "target": "label"},
        features={"trans_primitives": [], "leakage": {"action": action}},
    )


@pytest.mark.parametrize("action", ["drop", "fail"])
def test_planted_leak_is_dropped_or_fails_the_run(automl_home: Path, tmp_path: Path, action: str) -> None:
    cfg = _single_config(tmp_path, action)
    data = load_data(RunContext.new(cfg, f"leak-{action}"))
    generated = generate_features(data.context(), data)
    if action == "fail":
        with pytest.raises(FeatureError, match="suspected target leakage: leaky_copy"):
            select_features(data.context(), generated)
        return
    selected = select_features(data.context(), generated)
    report = json.loads(Path(selected.report).read_text())
    assert "leaky_copy" not in report["kept"] and report["dropped"]["leaky_copy"].startswith("suspected leakage")
    assert {"a", "b"} <= set(report["kept"])


def test_the_selection_models_fit_a_stratified_sample_and_still_catch_a_leak(automl_home: Path, tmp_path: Path) -> None:
    from automl.pipeline.features import model_rows

    base = _single_config(tmp_path, "drop")
    cfg = make_config(dataset=base.dataset.model_dump(), features={"trans_primitives": [], "model_rows": 100})
    data = load_data(RunContext.new(cfg, "leak-sampled"))
    generated = generate_features(data.context(), data)
    report = json.loads(Path(select_features(data.context(), generated).report).read_text())
    assert report["model_rows"] == 100 < report["fitted_on_rows"]
    assert "leaky_copy" not in report["kept"] and report["dropped"]["leaky_copy"].startswith("suspected leakage")

    y = pd.Series([1] * 50 + [0] * 950)
    X = pd.DataFrame({"x": np.arange(1000.0)})
    Xs, ys = model_rows(cfg, X, y)
    assert len(Xs) == len(ys) == 100 and int(ys.sum()) == 5  # the 5% minority kept at 5%
    assert (Xs.index == ys.index).all()
    everything = make_config(features={"model_rows": None})
    assert model_rows(everything, X, y)[0] is X


def test_selection_never_reads_holdout_rows(automl_home: Path) -> None:
    cfg = load_config(DEMO)
    data = load_data(RunContext.new(cfg, "rel-holdout"))
    generated = generate_features(data.context(), data)
    first = select_features(data.context(), generated)
    kept = json.loads(Path(first.report).read_text())["kept"]
    # scramble every holdout row (features and labels); the training rows stay as they were
    hold = pd.read_parquet(generated.holdout)
    rng = np.random.default_rng(3)
    for col in hold.columns:
        if pd.api.types.is_numeric_dtype(hold[col]):
            hold[col] = rng.permutation(hold[col].to_numpy()) * 1000.0
    hold.to_parquet(generated.holdout, index=False)
    second = select_features(data.context(), generated)
    assert json.loads(Path(second.report).read_text())["kept"] == kept
    assert len(kept) <= cfg.features.max_features  # type: ignore[operator]
    assert pd.read_parquet(second.holdout).shape[1] == len(kept) + 1


def test_relational_demo_features_use_only_rows_before_the_cutoff(automl_home: Path) -> None:
    cfg = load_config(DEMO)
    data = load_data(RunContext.new(cfg, "rel-cutoff"))
    generated = generate_features(data.context(), data)
    train = pd.read_parquet(data.train)
    fm = pd.read_parquet(generated.train)
    tx = pd.read_csv(ROOT / "data/mock_customer/transactions.csv", parse_dates=["transaction_time"])
    sessions = pd.read_csv(ROOT / "data/mock_customer/sessions.csv")
    tx = tx.merge(sessions[["session_id", "customer_id"]], on="session_id")
    cutoff = pd.to_datetime(train["cutoff_time"]).iloc[0]
    before = tx[tx.transaction_time <= cutoff].groupby("customer_id").size()
    expected = before.reindex(train["customer_id"]).fillna(0).to_numpy()
    np.testing.assert_array_equal(fm["COUNT(transactions)"].to_numpy(), expected)
    assert (tx.groupby("customer_id").size().reindex(train["customer_id"]).to_numpy() > expected).any()
