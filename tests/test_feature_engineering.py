from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_engineering import DeepFeatureSynthesis, FeatureSelector, calculate_features, load_feature_definitions
from feature_engineering.dfs import save_feature_definitions


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    return pd.DataFrame(
        {
            "a": a,
            "a_copy": a * 2.0 + 1e-9 * rng.normal(size=200),  # perfectly correlated with a
            "b": rng.normal(size=200),
            "constant": 1.0,
            "mostly_null": [np.nan] * 199 + [1.0],
            "color": rng.choice(["red", "green", "blue"], size=200),
        }
    )


def test_dfs_generates_transform_features_and_keeps_originals(frame: pd.DataFrame) -> None:
    dfs = DeepFeatureSynthesis(trans_primitives=["add_numeric", "multiply_numeric"]).fit(frame)
    fm = dfs.transform(frame)
    assert "a + b" in fm.columns and "a * b" in fm.columns
    assert {"a", "b", "color"} <= set(fm.columns)
    np.testing.assert_allclose(fm["a * b"], frame["a"] * frame["b"])
    assert len(fm) == len(frame)


def test_dfs_respects_the_feature_cap(frame: pd.DataFrame) -> None:
    dfs = DeepFeatureSynthesis(trans_primitives=["add_numeric", "multiply_numeric"], max_features=8).fit(frame)
    assert len(dfs.features_) == 8


def test_saved_definitions_recompute_identical_features_on_new_rows(frame: pd.DataFrame, tmp_path: Path) -> None:
    train, new = frame.iloc[:150], frame.iloc[150:]
    dfs = DeepFeatureSynthesis(trans_primitives=["multiply_numeric"]).fit(train)
    save_feature_definitions(dfs.features_, tmp_path / "f.json", dfs.logical_types_)
    features, logical_types = load_feature_definitions(tmp_path / "f.json")
    again = calculate_features(features, new, logical_types)
    pd.testing.assert_frame_equal(again, dfs.transform(new))
    np.testing.assert_allclose(again["a * b"], (new["a"] * new["b"]).to_numpy())


def test_selection_drops_null_constant_and_correlated_with_reasons(frame: pd.DataFrame) -> None:
    dfs = DeepFeatureSynthesis(trans_primitives=[]).fit(frame)
    fm = dfs.transform(frame)
    sel = FeatureSelector(null_threshold=0.9, corr_threshold=0.95).fit(fm, dfs.features_)
    assert sel.dropped_["mostly_null"].startswith("more than")
    assert sel.dropped_["constant"] == "single value"
    assert "a_copy" in sel.dropped_ and "correlation" in sel.dropped_["a_copy"]
    assert {"a", "b", "color"} <= set(sel.selected_columns_)
    assert [f.get_name() for f in sel.selected_features_] == sel.selected_columns_


def test_our_correlation_filter_keeps_what_featuretools_keeps() -> None:
    """The vectorized filter against featuretools' own on DFS output with ints, booleans, missing values,
    text, exact and near-threshold correlations and a constant column."""
    import warnings

    from featuretools import selection as fts

    from feature_engineering.selection import remove_highly_correlated

    rng = np.random.default_rng(3)
    n = 300
    a = rng.normal(size=n)
    raw = pd.DataFrame(
        {
            "a": a,
            "near": a + rng.normal(scale=0.25, size=n),  # |r| about 0.97: dropped at 0.95, kept at 0.99
            "b": rng.normal(size=n),
            "count": rng.integers(0, 5, size=n),
            "flag": rng.random(n) < 0.3,
            "holes": np.where(rng.random(n) < 0.2, np.nan, a * 3.0),  # equal to a where present
            "flat": 2.0,
            "text": rng.choice(["x", "y"], size=n),
        }
    )
    dfs = DeepFeatureSynthesis(trans_primitives=["add_numeric", "multiply_numeric"], max_features=40).fit(raw)
    fm = dfs.transform(raw)
    for threshold in (0.5, 0.95, 0.99):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_fm, want_features = fts.remove_highly_correlated_features(
                fm.copy(), list(dfs.features_), pct_corr_threshold=threshold
            )
        got_fm, got_features = remove_highly_correlated(fm, list(dfs.features_), threshold)
        assert list(got_fm.columns) == list(want_fm.columns), threshold
        assert [f.get_name() for f in got_features] == [f.get_name() for f in want_features]
        assert len(got_fm.columns) < len(fm.columns)  # each threshold drops something: the test can fail


def test_selection_is_fitted_on_training_rows_only(frame: pd.DataFrame) -> None:
    # "b" is constant on the training rows but varies on the others: a selector that
    # looked at all rows would keep it; one fitted on training rows drops it.
    frame = frame.copy()
    frame.loc[:149, "b"] = 0.5
    dfs = DeepFeatureSynthesis(trans_primitives=[]).fit(frame.iloc[:150])
    sel = FeatureSelector().fit(dfs.transform(frame.iloc[:150]), dfs.features_)
    assert "b" not in sel.selected_columns_
    assert sel.transform(dfs.transform(frame.iloc[150:])).columns.tolist() == sel.selected_columns_


def test_selection_that_drops_everything_is_an_error() -> None:
    frame = pd.DataFrame({"c": [1.0] * 10, "d": [2.0] * 10})
    dfs = DeepFeatureSynthesis(trans_primitives=[]).fit(frame)
    with pytest.raises(ValueError, match="dropped every feature"):
        FeatureSelector().fit(dfs.transform(frame), dfs.features_)


def _dfs_matrix(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {c: rng.normal(size=n) for c in "abcd"}
    fm = (
        DeepFeatureSynthesis(trans_primitives=["multiply_numeric"])
        .fit(pd.DataFrame(cols))
        .transform(pd.DataFrame(cols))
    )
    return fm, cols["a"], cols["b"]


def test_generated_features_kept_when_they_help() -> None:
    from feature_engineering.selection import GeneratedFeatureCheck

    fm, a, b = _dfs_matrix(600, 0)
    y = pd.Series((a * b > 0).astype(int))  # an interaction: the product column carries it, trees struggle without
    check = GeneratedFeatureCheck("classification", seed=0).fit(fm, y, ["a", "b", "c", "d"])
    assert check.scores_["with_generated"] < check.scores_["original"]
    assert check.keep_generated_


def test_generated_features_dropped_when_they_do_not_help() -> None:
    from feature_engineering.selection import GeneratedFeatureCheck

    fm, a, _ = _dfs_matrix(600, 1)
    y = pd.Series(3.0 * a + np.random.default_rng(2).normal(scale=0.1, size=600))  # additive: originals suffice
    check = GeneratedFeatureCheck("regression", seed=0).fit(fm, y, ["a", "b", "c", "d"])
    assert check.scores_["with_generated"] >= check.scores_["original"]
    assert not check.keep_generated_
    # nothing generated among the columns: nothing to compare, nothing scored
    only = GeneratedFeatureCheck("regression").fit(fm[["a", "b"]], y, ["a", "b", "c", "d"])
    assert only.scores_ == {} and not only.keep_generated_
