from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import make_config

from automl.data import DataError, read_dataset, split_holdout, validate
from automl.pipeline import RunContext
from automl.pipeline.data import load_data


def _csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_missing_target_column(tmp_path: Path) -> None:
    src = _csv(tmp_path, pd.DataFrame({"a": range(20), "b": range(20)}))
    cfg = make_config(dataset={"source": src, "target": "label"})
    with pytest.raises(DataError, match=r"target column 'label' not found"):
        validate(read_dataset(src), cfg)


def test_empty_dataset(tmp_path: Path) -> None:
    src = _csv(tmp_path, pd.DataFrame({"a": [], "label": []}))
    cfg = make_config(dataset={"source": src, "target": "label"})
    with pytest.raises(DataError, match=r"is empty \(0 rows\)"):
        validate(read_dataset(src), cfg)


def test_all_nan_target_and_all_nan_features(tmp_path: Path) -> None:
    src = _csv(tmp_path, pd.DataFrame({"a": range(20), "label": [np.nan] * 20}))
    cfg = make_config(dataset={"source": src, "target": "label"})
    with pytest.raises(DataError, match="entirely missing"):
        validate(read_dataset(src), cfg)
    src = _csv(tmp_path, pd.DataFrame({"a": [np.nan] * 20, "label": [0, 1] * 10}))
    cfg = make_config(dataset={"source": src, "target": "label"})
    with pytest.raises(DataError, match="every feature column"):
        validate(read_dataset(src), cfg)


def test_single_class_and_missing_file(tmp_path: Path) -> None:
    src = _csv(tmp_path, pd.DataFrame({"a": range(20), "label": [1] * 20}))
    with pytest.raises(DataError, match="single class"):
        validate(read_dataset(src), make_config(dataset={"source": src, "target": "label"}))
    with pytest.raises(DataError, match="not found"):
        read_dataset(str(tmp_path / "nope.parquet"))


def test_bad_input_leaves_no_run_folder(automl_home: Path, tmp_path: Path) -> None:
    src = _csv(tmp_path, pd.DataFrame({"a": range(20), "b": range(20)}))
    cfg = make_config(dataset={"source": src, "target": "label"})
    with pytest.raises(DataError):
        load_data(RunContext.new(cfg, "t__run1"))
    assert not (automl_home / "runs" / "t__run1").exists()


def test_holdout_is_disjoint_stratified_and_reproducible(tmp_path: Path) -> None:
    cfg = make_config()
    frame = validate(read_dataset("sklearn:breast_cancer"), cfg)
    a = split_holdout(frame, cfg, tmp_path / "a")
    b = split_holdout(frame, cfg, tmp_path / "b")
    train, hold = pd.read_parquet(a.train_path), pd.read_parquet(a.holdout_path)
    assert len(train) + len(hold) == len(frame)
    assert len(hold) == pytest.approx(0.2 * len(frame), abs=1)
    key = list(frame.columns[:5])
    assert train.merge(hold, on=key).empty  # no row in both
    assert abs(train["target"].mean() - hold["target"].mean()) < 0.03
    pd.testing.assert_frame_equal(hold, pd.read_parquet(b.holdout_path))
