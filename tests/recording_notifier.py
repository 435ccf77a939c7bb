"""A real Airflow notifier for the tests: appends one JSON line per call to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier


class RecordingNotifier(BaseNotifier):
    """Writes the DAG run's id, state and the notifier's label to ``path``."""

    template_fields = ("label",)

    def __init__(self, path: str, label: str = "") -> None:
        super().__init__()
        self.path, self.label = path, label

    def notify(self, context: Any) -> None:
        dag_run = context["dag_run"]
        line = {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "state": str(dag_run.state), "label": self.label}
        with Path(self.path).open("a") as fh:
            fh.write(json.dumps(line) + "\n")
