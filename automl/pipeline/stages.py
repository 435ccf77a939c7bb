"""The pipeline, declared once: its stages in order, each with typed inputs and output.

::

    load_data -> generate_features -> select_features -> create_study
        -> [run_trial slots (N) || pruning pass] -> check_search -> retrain_best -> evaluate_holdout
        -> register_model

Two things run this list and nothing else wires the chain: the Airflow factory
(``automl_airflow.factory``: one task per stage, the search as mapped slots beside the
pruning sensor) and the local runner (``automl.pipeline.runner.LocalRunner``: ``automl run``
and every benchmark). A stage is a plain function ``fn(ctx, **inputs) -> Artifact`` whose
inputs are earlier stages' outputs, named by parameter.

Standard library only (plus the artifact records): the factory imports this at DAG-parse
time, so a stage names its function by import path and the module is loaded when it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automl.pipeline.artifacts import (
    Artifact,
    GeneratedFeatures,
    HoldoutResult,
    LoadedData,
    Registered,
    Retrained,
    RunContext,
    SearchChecked,
    SelectedFeatures,
    StudyHandle,
)
from automl.redact import redact_text


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    :param name: the stage's name (the Airflow task id).
    :param target: ``module:function`` of the stage function ``fn(ctx, **inputs)``.
    :param output: the artifact type it returns.
    :param inputs: parameter name -> the earlier stage whose output it takes.
    :param study_links: the task gets the MLflow extra links (it runs once the study exists).
    :param trigger_rule: Airflow's rule for the task (the local runner runs stages in order).
    """

    name: str
    target: str
    output: type[Artifact]
    inputs: Mapping[str, str] = field(default_factory=dict)
    study_links: bool = False
    trigger_rule: str = "all_success"

    @property
    def function(self) -> Callable[..., Artifact]:
        module, _, attr = self.target.partition(":")
        fn: Callable[..., Artifact] = getattr(importlib.import_module(module), attr)
        return fn

    def run(self, ctx: RunContext, outputs: Mapping[str, Artifact]) -> Artifact:
        """Call the stage with its inputs taken from ``outputs`` (stage name -> artifact)."""
        try:
            result = self.function(ctx, **{param: outputs[stage] for param, stage in self.inputs.items()})
        except Exception as err:  # a library's message may quote a URL with its credentials (MLflow's do)
            clean = redact_text(str(err))
            if clean != str(err):
                raise RuntimeError(f"{type(err).__name__}: {clean}") from None
            raise
        if not isinstance(result, self.output):
            raise TypeError(f"stage {self.name} returned {type(result).__name__}, not {self.output.__name__}")
        return result

    def inputs_from_xcom(self, values: Mapping[str, Mapping[str, Any]]) -> dict[str, Artifact]:
        """The inputs as artifacts, from the upstream tasks' XCom dicts (stage name -> dict)."""
        return {stage: OUTPUTS[stage].from_xcom(dict(values[stage])) for stage in self.inputs.values()}


@dataclass(frozen=True)
class Search:
    """The search phase: trial slots (``python -m automl.worker``) with the pruning pass beside them.

    :param name: the slots' task id (mapped on Airflow).
    :param monitor: the pruning sensor's task id.
    :param study: the stage whose output is the study handle.
    """

    name: str = "run_trial"
    monitor: str = "pruning_sensor"
    study: str = "create_study"


Step = Stage | Search

PIPELINE: tuple[Step, ...] = (
    Stage("load_data", "automl.pipeline.data:load_data", LoadedData),
    Stage(
        "generate_features",
        "automl.pipeline.features:generate_features",
        GeneratedFeatures,
        inputs={"data": "load_data"},
    ),
    Stage(
        "select_features",
        "automl.pipeline.features:select_features",
        SelectedFeatures,
        inputs={"generated": "generate_features"},
    ),
    Stage(
        "create_study",
        "automl.pipeline.search:create_study",
        StudyHandle,
        inputs={"data": "load_data", "features": "select_features"},
        study_links=True,
    ),
    Search(),
    Stage(
        "check_search",
        "automl.pipeline.search:check_search",
        SearchChecked,
        inputs={"study": "create_study"},
        study_links=True,
        trigger_rule="all_done",  # after every slot ended, whatever each slot's state: it judges the study
    ),
    Stage(
        "retrain_best",
        "automl.pipeline.model:retrain_best",
        Retrained,
        inputs={"study": "create_study", "features": "select_features", "checked": "check_search"},
        study_links=True,
    ),
    Stage(
        "evaluate_holdout",
        "automl.pipeline.model:evaluate_holdout",
        HoldoutResult,
        inputs={"study": "create_study", "retrained": "retrain_best", "features": "select_features"},
        study_links=True,
    ),
    Stage(
        "register_model",
        "automl.pipeline.model:register_model",
        Registered,
        inputs={
            "data": "load_data",
            "study": "create_study",
            "retrained": "retrain_best",
            "features": "select_features",
            "holdout": "evaluate_holdout",
        },
        study_links=True,
    ),
)

STAGES: dict[str, Stage] = {s.name: s for s in PIPELINE if isinstance(s, Stage)}
OUTPUTS: dict[str, type[Artifact]] = {name: s.output for name, s in STAGES.items()}
FIRST = PIPELINE[0]


def _check(pipeline: tuple[Step, ...]) -> None:
    """Each input names an earlier stage; the first stage takes none (it starts the run)."""
    seen: set[str] = set()
    for step in pipeline:
        if isinstance(step, Search):
            if step.study not in seen:
                raise ValueError(f"the search needs stage {step.study} before it")
            continue
        missing = [s for s in step.inputs.values() if s not in seen]
        if missing:
            raise ValueError(f"stage {step.name} takes {missing}, which do not run before it")
        seen.add(step.name)
    if not isinstance(pipeline[0], Stage) or pipeline[0].inputs:
        raise ValueError("the first step must be a stage without inputs")


_check(PIPELINE)
