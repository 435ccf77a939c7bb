"""Where the platform keeps local state (stores, run artifacts)."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """The local state folder (created on first use): ``$AUTOML_HOME`` or ``<project>/.automl``."""
    d = Path(os.environ.get("AUTOML_HOME") or PROJECT_ROOT / ".automl").resolve()
    d.mkdir(parents=True, exist_ok=True)
    return d


def safe_name(text: str) -> str:
    """A file-system and study-name safe version of an id such as an Airflow run id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:200]


def run_dir(study_name: str) -> Path:
    """Folder for one study run's data files (Parquet, feature definitions, config)."""
    d = state_dir() / "runs" / safe_name(study_name)
    d.mkdir(parents=True, exist_ok=True)
    return d
