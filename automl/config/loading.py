"""Reading a study config: from a YAML file, a mapping or JSON, with every problem in one error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from automl.config.base import ConfigError, format_errors
from automl.config.study import StudyConfig


def parse_config(data: Any, source: str = "<dict>", base_dir: str | os.PathLike[str] | None = None) -> StudyConfig:
    """Validate a config mapping; relative data paths resolve against ``base_dir`` (the study file's folder)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid study config {source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        context = {"base_dir": Path(base_dir).resolve()} if base_dir is not None else None
        return StudyConfig.model_validate(data, context=context)
    except ValidationError as err:
        raise ConfigError(format_errors(err, source)) from None


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read and validate one study config file; raises ConfigError naming the problem."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read study config {p}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid study config {p}: malformed YAML: {err}") from None
    return parse_config(data, source=str(p), base_dir=p.parent)


def config_from_json(text: str) -> StudyConfig:
    return parse_config(json.loads(text), source="<json>")


def study_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The study configs of a folder (``*.yaml``, ``*.yml``), in name order."""
    d = Path(folder)
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


def load_folder(folder: str | os.PathLike[str]) -> dict[Path, StudyConfig | ConfigError]:
    """Every study config of a folder, each valid or its error; two files giving one study name are both
    errors (a study is one DAG and one MLflow experiment), every other file is unaffected."""
    out: dict[Path, StudyConfig | ConfigError] = {}
    for path in study_files(folder):
        try:
            out[path] = load_config(path)
        except ConfigError as err:
            out[path] = err
    by_name: dict[str, list[Path]] = {}
    for path, cfg in out.items():
        if isinstance(cfg, StudyConfig):
            by_name.setdefault(cfg.name, []).append(path)
    for name, paths in by_name.items():
        if len(paths) > 1:
            for path in paths:
                others = ", ".join(p.name for p in paths if p != path)
                out[path] = ConfigError(
                    f"invalid study config {path}: 1 problem(s)\n  - name: {name!r} is also the name of {others}; "
                    "study names must be unique (each study is one DAG and one MLflow experiment)"
                )
    return out
