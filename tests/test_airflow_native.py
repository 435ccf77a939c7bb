"""The study DAG in Airflow's own terms: the airflow block, schedules, notifiers, duplicate names, validate DIR."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import NOTIFIED, ROOT, TEST_DAGS
from helpers import make_config

from automl.config import ConfigError

STUDY = """\
name: {name}
dataset: {{source: "sklearn:wine", target: target}}
task: classification
metric: accuracy
model_space: [logistic_regression]
"""


def _folder(tmp_path: Path) -> Path:
    studies = tmp_path / "dags" / "studies"
    studies.mkdir(parents=True)
    shutil.copy(ROOT / "dags" / "automl_studies.py", tmp_path / "dags" / "automl_studies.py")
    (studies / "a.yaml").write_text(STUDY.format(name="same"))
    (studies / "b.yaml").write_text(STUDY.format(name="same"))
    (studies / "c.yaml").write_text(STUDY.format(name="other") + "schedule: '0 3 * * *'\n")
    (studies / "d.yaml").write_text(STUDY.format(name="badschedule") + "schedule: '0 25 * * *'\n")
    return studies


def test_duplicate_names_and_bad_schedules_mark_only_their_files(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    studies = _folder(tmp_path)
    bag = DagBag(dag_folder=str(studies.parent))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "automl_a__invalid_config",
        "automl_b__invalid_config",
        "automl_d__invalid_config",
        "automl_other",
    }
    docs = {dag_id: str(dag.doc_md) for dag_id, dag in bag.dags.items()}
    assert "'same' is also the name of b.yaml" in docs["automl_a__invalid_config"]
    assert "'same' is also the name of a.yaml" in docs["automl_b__invalid_config"]
    assert "schedule:" in docs["automl_d__invalid_config"]
    assert bag.dags["automl_other"].schedule == "0 3 * * *"


def test_validate_checks_a_folder_and_reports_duplicates(tmp_path: Path) -> None:
    studies = _folder(tmp_path)

    def validate(path: Path) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "automl.cli", "validate", str(path)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)

    res = validate(studies)
    assert res.returncode == 2
    assert "'same' is also the name of b.yaml" in res.stderr and "d.yaml" in res.stderr
    assert "c.yaml: valid study 'other'" in res.stdout
    for p in (studies / "b.yaml", studies / "d.yaml"):
        p.unlink()
    ok = validate(studies)
    assert ok.returncode == 0, ok.stderr
    assert "2 valid" in ok.stdout


def test_the_airflow_block_reaches_the_dag() -> None:
    from airflow.sdk import Asset
    from automl_airflow.factory import build_dag

    cfg = make_config(
        schedule="@daily",
        airflow={
            "start_date": "2025-06-01",
            "catchup": True,
            "max_active_runs": 3,
            "dagrun_timeout_s": 3600,
            "pool": "automl_pool",
            "queue": "gpu",
            "default_args": {"owner": "ds-team", "email": ["a@example.com"], "execution_timeout": 600},
        },
    )
    dag = build_dag(cfg, Path("x.yaml"))
    assert dag.catchup and dag.max_active_runs == 3 and dag.dagrun_timeout == timedelta(hours=1)
    assert dag.start_date is not None and dag.start_date.replace(tzinfo=None) == datetime(2025, 6, 1)
    assert dag.schedule == "@daily"
    for t in dag.tasks:
        assert (t.pool, t.queue, t.owner) == ("automl_pool", "gpu", "ds-team"), t.task_id
        assert t.execution_timeout == timedelta(minutes=10) and t.retries >= cfg.retries
    assert [o.uri for o in dag.task_dict["register_model"].outlets] == ["automl://t/model"]
    asset_scheduled = build_dag(make_config(schedule="automl://other/model"), Path("x.yaml"))
    assert isinstance(asset_scheduled.schedule, Asset) and asset_scheduled.schedule.uri == "automl://other/model"


def test_bad_airflow_settings_are_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"airflow.on_failure.0.notifier: 'os.system' is not under an allowed"):
        make_config(airflow={"on_failure": [{"notifier": "os.system"}]})
    with pytest.raises(ConfigError, match=r"schedule: '@nightly'|schedule: unknown preset '@nightly'"):
        make_config(schedule="@nightly")
    from automl_airflow.factory import build_dag

    with pytest.raises(ConfigError, match=r"airflow.default_args: \['colour'\] are not arguments"):
        build_dag(make_config(airflow={"default_args": {"colour": "red"}}), Path("x.yaml"))
    with pytest.raises(ConfigError, match="cannot import"):
        build_dag(
            make_config(airflow={"on_failure": [{"notifier": "airflow.providers.nope.Notifier"}]}), Path("x.yaml")
        )


@pytest.mark.slow
def test_a_failed_run_calls_the_failure_notifier(airflow_db: None) -> None:
    from automl_airflow.local import load_dags

    dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_notify_fail"]
    NOTIFIED.unlink(missing_ok=True)
    run = dag.test()
    assert str(run.state) == "failed"
    calls = [json.loads(line) for line in NOTIFIED.read_text().splitlines()]
    assert calls == [
        {"dag_id": "automl_notify_fail", "run_id": run.run_id, "state": "failed", "label": "automl_notify_fail"}
    ]
