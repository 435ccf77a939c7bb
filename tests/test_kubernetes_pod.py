"""The rendered pod spec of a trial slot (no cluster needed)."""

import json
from pathlib import Path

import pytest
from helpers import make_config

from automl.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SECRET_URL = "postgresql+psycopg://automl:s3cr3t-pw@db.internal:5432/optuna"
MLFLOW_SECRET = "https://mlflow:t0ken-xyz@mlflow.internal"
STUDY = {
    "study_name": "t__manual__2026-11-25T10_00_00_00_00",
    "slots": [0, 1],
    "config_path": "/s/config.json",
    "train": "/s/train_features.parquet",
    "parent_run_id": "abc123",
}
EXECUTOR = {
    "kind": "kubernetes",
    "image": "automl-worker:0.1.0",
    "namespace": "automl",
    "gpus": 1,
    "secret_name": "automl-urls",
    "labels": {"team": "ranking"},
    "active_deadline_s": 3600,
    "node_selector": {"gpu": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


@pytest.fixture
def k8s_config(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # the Airflow side reads the URLs from its environment; pods from the Secret
    monkeypatch.setenv("AUTOML_STORAGE", SECRET_URL)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", MLFLOW_SECRET)
    return make_config(executor=EXECUTOR)


def _render(config, slot: int = 0):  # type: ignore[no-untyped-def]
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from automl_airflow.k8s_pods import pod_operator_kwargs, slot_arguments

    args = slot_arguments(STUDY, dict(config.executor.labels))
    op = KubernetesPodOperator(task_id="run_trial", name="automl-trial", **args[slot], **pod_operator_kwargs(config))
    return op.build_pod_request_obj(dry_run=True)


def test_trial_pod_spec(k8s_config) -> None:  # type: ignore[no-untyped-def]
    from automl_airflow.k8s_pods import slot_arguments

    assert k8s_config.storage_url == SECRET_URL  # the Airflow side sees it...
    args = slot_arguments(STUDY, {"team": "ranking"})
    assert args[1]["arguments"][:4] == ["--study", STUDY["study_name"], "--slot", "1"]
    pod = _render(k8s_config)
    c = pod.spec.containers[0]
    assert c.command == ["python", "-m", "automl.worker"] and "--config" in c.args
    # GPU as a limit, and every resource limited
    assert c.resources.limits == {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert c.resources.requests == {"cpu": "500m", "memory": "1Gi"}
    # non-root, read-only root filesystem, no privilege escalation, no capabilities
    assert c.security_context.run_as_non_root and c.security_context.read_only_root_filesystem
    assert c.security_context.run_as_user == 10001
    assert c.security_context.allow_privilege_escalation is False and c.security_context.capabilities.drop == ["ALL"]
    assert not c.security_context.capabilities.add
    assert pod.spec.security_context.run_as_non_root and pod.spec.security_context.run_as_user == 10001
    assert not pod.spec.host_network
    assert not any(v.host_path for v in pod.spec.volumes)
    assert any(m.mount_path == "/tmp" for m in c.volume_mounts)  # writable scratch
    assert pod.metadata.namespace == "automl" and pod.spec.active_deadline_seconds == 3600
    assert pod.spec.node_selector == {"gpu": "true"} and pod.spec.tolerations[0].key == "nvidia.com/gpu"
    # labels: the config's, plus the selectors the sensor deletes a stuck trial's pod by
    labels = pod.metadata.labels
    assert labels["team"] == "ranking" and labels["automl/slot"] == "0"
    assert labels["app.kubernetes.io/name"] == "automl-trial"
    assert labels["automl/study"].endswith("2026-11-25T10_00_00_00_00") and len(labels["automl/study"]) <= 63
    env = {e.name: e for e in c.env}
    assert env["AUTOML_POD_NAME"].value_from.field_ref.field_path == "metadata.name"
    # ...pods get the URLs only from the Secret, by reference
    assert c.env_from[0].secret_ref.name == "automl-urls"
    rendered = json.dumps(pod.to_dict(), default=str)
    for secret in ("s3cr3t-pw", SECRET_URL, "t0ken-xyz", MLFLOW_SECRET):
        assert secret not in rendered  # the storage and MLflow URLs never enter the spec


def test_slot_pods_differ_only_by_slot(k8s_config) -> None:  # type: ignore[no-untyped-def]
    p0, p1 = _render(k8s_config, 0), _render(k8s_config, 1)
    assert (
        p1.metadata.labels["automl/slot"] == "1"
        and p1.metadata.labels["automl/study"] == p0.metadata.labels["automl/study"]
    )
    a0, a1 = p0.spec.containers[0].args, p1.spec.containers[0].args
    assert a0[a0.index("--slot") + 1] == "0" and a1[a1.index("--slot") + 1] == "1"


def test_no_gpu_means_no_gpu_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(executor={**EXECUTOR, "gpus": 0})
    limits = _render(cfg).spec.containers[0].resources.limits
    assert limits == {"cpu": "1", "memory": "2Gi"}


def test_host_chroot_is_the_only_root_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dev-cluster mode: the node's interpreter via chroot, uid 0 with only CAP_SYS_CHROOT."""
    monkeypatch.setenv("AUTOML_ALLOW_HOST_CHROOT", "1")  # the operator enabled it
    cfg = make_config(
        executor={
            **EXECUTOR,
            "image": "docker.io/library/busybox:1.36",
            "host_chroot": True,
            "host_network": True,
            "command": ["/opt/venv/bin/python"],
        }
    )
    pod = _render(cfg)
    c = pod.spec.containers[0]
    assert c.command == ["chroot", "/host", "/opt/venv/bin/python", "-m", "automl.worker"]
    assert c.security_context.run_as_user == 0 and c.security_context.run_as_non_root is False
    assert c.security_context.capabilities.drop == ["ALL"] and c.security_context.capabilities.add == ["SYS_CHROOT"]
    assert c.security_context.read_only_root_filesystem and c.security_context.allow_privilege_escalation is False
    assert pod.spec.host_network is True
    assert {v.name: v.host_path.path for v in pod.spec.volumes if v.host_path} == {"host": "/"}
    assert c.resources.limits["nvidia.com/gpu"] == "1"  # limits stay


def test_executor_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="host_chroot needs `command`"):
        make_config(executor={**EXECUTOR, "host_chroot": True})
    monkeypatch.setenv("AUTOML_PG", SECRET_URL)
    # with a Secret, pods read the URLs from it: a storage URL in the config is refused
    with pytest.raises(ConfigError, match="storage: with executor.secret_name, leave it unset"):
        make_config(storage="${AUTOML_PG}", executor=EXECUTOR)


def test_host_chroot_needs_the_operator_not_the_study_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_airflow.k8s_pods import pod_operator_kwargs

    cfg = make_config(executor={**EXECUTOR, "host_chroot": True, "command": ["/opt/venv/bin/python"]})
    monkeypatch.delenv("AUTOML_ALLOW_HOST_CHROOT", raising=False)
    with pytest.raises(ConfigError, match="AUTOML_ALLOW_HOST_CHROOT=1"):
        pod_operator_kwargs(cfg)
    monkeypatch.setenv("AUTOML_ALLOW_HOST_CHROOT", "yes")  # only the exact switch
    with pytest.raises(ConfigError, match="AUTOML_ALLOW_HOST_CHROOT=1"):
        pod_operator_kwargs(cfg)


def test_the_dag_of_a_study_file_asking_for_host_chroot_is_a_visible_broken_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl_airflow.factory import build_dags

    monkeypatch.delenv("AUTOML_ALLOW_HOST_CHROOT", raising=False)
    (tmp_path / "root.yaml").write_text(
        "name: root\ndataset: {source: 'sklearn:breast_cancer', target: target}\ntask: classification\n"
        "metric: roc_auc\nmodel_space: [logistic_regression]\n"
        "executor: {kind: kubernetes, host_chroot: true, command: [/usr/bin/python3]}\n"
    )
    dags = build_dags(tmp_path)
    assert list(dags) == ["automl_root__invalid_config"]
    assert "AUTOML_ALLOW_HOST_CHROOT" in (dags["automl_root__invalid_config"].doc_md or "")


@pytest.mark.parametrize(
    "field",
    [
        {"image": "{{ conn.metadata.password }}"},
        {"labels": {"team": "{% for c in conn %}x{% endfor %}"}},
        {"command": ["python", "{{ var.value.secret }}"]},
        {"node_selector": {"{{ macros }}": "x"}},
        {"service_account": "{# x #}"},
    ],
)
def test_templates_in_pod_fields_are_rejected(field: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="Jinja templates"):
        make_config(executor={**EXECUTOR, **field})


def test_shared_state_is_mounted_read_only_beside_a_writable_scratch(k8s_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config(executor={**EXECUTOR, "shared_volume_claim": "automl-state"})
    pod = _render(cfg)
    mounts = {m.name: m for m in pod.spec.containers[0].volume_mounts}
    assert mounts["automl-state"].read_only is True
    assert mounts["scratch"].mount_path == "/tmp" and not mounts["scratch"].read_only
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["automl-state"].persistent_volume_claim.claim_name == "automl-state"
    assert volumes["scratch"].empty_dir is not None
    assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"  # Pod Security `restricted`


def test_a_model_file_changed_on_the_shared_volume_is_never_unpickled(tmp_path: Path) -> None:
    import hashlib
    import pickle

    import joblib

    from automl.pipeline import Retrained
    from automl.pipeline.model import ModelTampered, load_retrained

    path = tmp_path / "model.joblib"
    joblib.dump({"a": 1}, path)
    retrained = Retrained(str(path), 0, 0.9, {}, hashlib.sha256(path.read_bytes()).hexdigest())
    assert load_retrained(retrained) == {"a": 1}

    class Planted:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path(tmp_path / "pwned").touch, ())

    path.write_bytes(pickle.dumps(Planted()))  # what a trial pod with a writable mount could do
    with pytest.raises(ModelTampered):
        load_retrained(retrained)
    assert not (tmp_path / "pwned").exists()


def test_namespace_enforces_pod_security_and_trial_pods_are_fenced_off() -> None:
    import yaml

    docs = [d for p in sorted((ROOT / "docker" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    ns = next(d for d in docs if d["kind"] == "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "automl-trial"}
    assert policy["spec"]["ingress"] == [] and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    blocked = [e["to"][0]["ipBlock"]["except"] for e in policy["spec"]["egress"] if "to" in e]
    assert blocked == [["169.254.169.254/32"]]


def test_kubernetes_executor_dag_maps_pods(k8s_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import yaml
    from automl_airflow.factory import build_dags

    data = k8s_config.model_dump(mode="json")
    data["name"] = "k8s_study"
    (tmp_path / "k8s_study.yaml").write_text(yaml.safe_dump(data))
    dag = build_dags(tmp_path)["automl_k8s_study"]
    run_trial = dag.task_dict["run_trial"]
    assert type(run_trial).__name__ == "MappedOperator" and run_trial.operator_name == "KubernetesPodOperator"
    assert run_trial.max_active_tis_per_dagrun == k8s_config.budget.parallelism
    assert "pruning_sensor" in dag.task_dict and "trial_slots" in dag.task_dict
