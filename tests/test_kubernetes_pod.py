"""The rendered pod spec of a trial slot (no cluster needed)."""

import json
from pathlib import Path

import pytest
from helpers import make_config

ROOT = Path(__file__).resolve().parents[1]
SECRET_URL = "postgresql+psycopg://automl:s3cr3t-pw@db.internal:5432/optuna"


@pytest.fixture
def k8s_config(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPTUNA_PG", SECRET_URL)
    return make_config(
        storage="${OPTUNA_PG}",
        executor={
            "kind": "kubernetes",
            "image": "automl-worker:0.1.0",
            "namespace": "automl",
            "gpus": 1,
            "secret_name": "automl-urls",
            "labels": {"team": "ranking"},
            "active_deadline_s": 3600,
            "node_selector": {"gpu": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    )


def test_trial_pod_spec(k8s_config) -> None:  # type: ignore[no-untyped-def]
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from automl_airflow.k8s_pods import pod_operator_kwargs, slot_arguments

    study = {
        "study_name": "t__manual__2026-11-25T10_00_00_00_00",
        "slots": [0, 1],
        "config_path": "/s/config.json",
        "train": "/s/train_features.parquet",
        "parent_run_id": "abc123",
    }
    args = slot_arguments(study, {"team": "ranking"})
    assert args[1]["arguments"][:4] == ["--study", study["study_name"], "--slot", "1"]
    op = KubernetesPodOperator(task_id="run_trial", name="automl-trial", **args[0], **pod_operator_kwargs(k8s_config))
    pod = op.build_pod_request_obj(dry_run=True)
    c = pod.spec.containers[0]
    assert c.command == ["python", "-m", "automl.worker"] and "--config" in c.args
    assert c.resources.limits == {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert c.resources.requests == {"cpu": "500m", "memory": "1Gi"}
    assert c.security_context.run_as_non_root and c.security_context.read_only_root_filesystem
    assert c.security_context.allow_privilege_escalation is False and c.security_context.capabilities.drop == ["ALL"]
    assert pod.spec.security_context.run_as_non_root and pod.spec.security_context.run_as_user == 10001
    assert any(m.mount_path == "/tmp" for m in c.volume_mounts)  # writable scratch
    assert pod.metadata.namespace == "automl" and pod.spec.active_deadline_seconds == 3600
    assert pod.spec.node_selector == {"gpu": "true"} and pod.spec.tolerations[0].key == "nvidia.com/gpu"
    labels = pod.metadata.labels
    assert labels["team"] == "ranking" and labels["automl/slot"] == "0"
    assert labels["automl/study"].endswith("2026-11-25T10_00_00_00_00") and len(labels["automl/study"]) <= 63
    assert c.env_from[0].secret_ref.name == "automl-urls"
    rendered = json.dumps(pod.to_dict(), default=str)
    assert "s3cr3t-pw" not in rendered and SECRET_URL not in rendered  # the storage URL never enters the spec


def test_kubernetes_executor_dag_maps_pods(k8s_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import yaml
    from automl_airflow.factory import build_dags

    data = k8s_config.model_dump(mode="json")
    data["name"], data["storage"] = "k8s_study", "${OPTUNA_PG}"
    (tmp_path / "k8s_study.yaml").write_text(yaml.safe_dump(data))
    dag = build_dags(tmp_path)["automl_k8s_study"]
    run_trial = dag.task_dict["run_trial"]
    assert type(run_trial).__name__ == "MappedOperator" and run_trial.operator_name == "KubernetesPodOperator"
    assert run_trial.max_active_tis_per_dagrun == k8s_config.budget.parallelism
    assert "pruning_sensor" in dag.task_dict and "trial_slots" in dag.task_dict
