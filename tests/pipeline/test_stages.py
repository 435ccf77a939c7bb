"""The pipeline's declaration: stages in order with typed inputs; artifacts survive the trip through XCom."""

from __future__ import annotations

import json

import pytest

from automl.pipeline import PIPELINE, STAGES, Search, Stage, StudyHandle
from automl.pipeline.artifacts import Artifact, HoldoutResult, LoadedData
from automl.pipeline.stages import _check


def test_every_input_is_an_earlier_stage_of_the_declared_type() -> None:
    seen: dict[str, type[Artifact]] = {}
    for step in PIPELINE:
        if isinstance(step, Search):
            assert seen[step.study] is StudyHandle
            continue
        for param, stage in step.inputs.items():
            assert stage in seen, (step.name, param)
            annotation = step.function.__annotations__[param]  # the function's own signature agrees
            assert annotation in (seen[stage].__name__, seen[stage]), (step.name, param, annotation)
        assert step.function.__annotations__["return"] in (step.output.__name__, step.output)
        seen[step.name] = step.output
    assert [s.name for s in PIPELINE] == [
        "load_data",
        "generate_features",
        "select_features",
        "create_study",
        "run_trial",
        "check_search",
        "retrain_best",
        "evaluate_holdout",
        "register_model",
    ]


def test_a_stage_that_takes_a_later_output_is_refused() -> None:
    first = STAGES["load_data"]
    late = Stage("early", "automl.pipeline.model:retrain_best", HoldoutResult, inputs={"x": "never"})
    with pytest.raises(ValueError, match="early takes"):
        _check((first, late))
    with pytest.raises(ValueError, match="needs stage create_study"):
        _check((first, Search()))


def test_artifacts_round_trip_through_xcom_json() -> None:
    data = LoadedData("s", "/c.json", "/t.parquet", "/h.parquet", {"rows": 3}, {"nr": 1.0})
    assert LoadedData.from_xcom(json.loads(json.dumps(data.to_xcom()))) == data
    holdout = HoldoutResult("roc_auc", 0.9, 0.95, 10)  # optional fields keep their defaults
    assert HoldoutResult.from_xcom({**holdout.to_xcom(), "unknown_later_key": 1}) == holdout
    with pytest.raises(ValueError, match=r"missing \['holdout_score'\]"):
        HoldoutResult.from_xcom({"metric": "roc_auc", "best_cv": 0.9, "holdout_rows": 3})
