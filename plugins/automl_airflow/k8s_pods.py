"""Trial slots as KubernetesPodOperator pods (``executor.kind: kubernetes``).

Each slot's pod runs the same ``python -m automl.worker ...`` arguments as a local
slot. Secrets (storage and MLflow URLs) come only from the Kubernetes Secret
named in the config, as environment variables; the pod spec and command line
carry paths and names only. Pods run as non-root with a read-only root
filesystem, a writable ``/tmp`` scratch volume, and resource limits always set.
"""

from __future__ import annotations

import re
from typing import Any

from automl.config import StudyConfig

SCRATCH = "/tmp"


def label_value(text: str) -> str:
    """A valid Kubernetes label value (63 characters of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[-63:].strip("-_.") or "x"


def slot_labels(study_name: str, slot: int | str) -> dict[str, str]:
    """Labels that select a study's pods, and one slot's pod (used to delete a stuck trial)."""
    return {"app.kubernetes.io/name": "automl-trial", "automl/study": label_value(study_name), "automl/slot": str(slot)}


def pod_operator_kwargs(config: StudyConfig) -> dict[str, Any]:
    """Keyword arguments for ``KubernetesPodOperator.partial(...)`` from the study config."""
    from kubernetes.client import models as k8s

    ex = config.executor
    limits = {"cpu": ex.cpu_limit, "memory": ex.memory_limit}
    if ex.gpus:
        limits["nvidia.com/gpu"] = str(ex.gpus)
    volumes = [k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="1Gi"))]
    mounts = [k8s.V1VolumeMount(name="scratch", mount_path=SCRATCH)]
    from automl.paths import state_dir

    if ex.shared_volume_claim or ex.shared_host_path:
        source: dict[str, Any] = (
            {"persistent_volume_claim": k8s.V1PersistentVolumeClaimVolumeSource(claim_name=ex.shared_volume_claim)}
            if ex.shared_volume_claim
            else {"host_path": k8s.V1HostPathVolumeSource(path=ex.shared_host_path, type="Directory")}
        )
        volumes.append(k8s.V1Volume(name="automl-state", **source))
        mounts.append(k8s.V1VolumeMount(name="automl-state", mount_path=str(state_dir())))
    kwargs: dict[str, Any] = {
        "namespace": ex.namespace,
        "image": ex.image,
        "image_pull_policy": ex.image_pull_policy,
        "cmds": [*ex.command, "-m", "automl.worker"],
        "container_resources": k8s.V1ResourceRequirements(
            requests={"cpu": ex.cpu_request, "memory": ex.memory_request}, limits=limits
        ),
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True, run_as_user=ex.run_as_user, run_as_group=ex.run_as_user, fs_group=ex.run_as_user
        ),
        "container_security_context": k8s.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=ex.run_as_user,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        "volumes": volumes,
        "volume_mounts": mounts,
        "env_vars": {"HOME": SCRATCH, "TMPDIR": SCRATCH, "MPLCONFIGDIR": SCRATCH, "AUTOML_HOME": str(state_dir())},
        "node_selector": ex.node_selector or None,
        "tolerations": [k8s.V1Toleration(**t) for t in ex.tolerations] or None,
        "service_account_name": ex.service_account,
        "active_deadline_seconds": ex.active_deadline_s,
        "get_logs": True,
        "on_finish_action": "delete_pod",
        "kubernetes_conn_id": ex.kubernetes_conn_id,
        "in_cluster": ex.kubernetes_conn_id is None,
    }
    if ex.secret_name:
        kwargs["env_from"] = [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=ex.secret_name))]
    return {k: v for k, v in kwargs.items() if v is not None}


def slot_arguments(study: dict[str, Any], labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``expand_kwargs`` input: per slot, the worker's arguments (the local command minus the
    interpreter) and the pod's labels (the config's plus the study/slot selectors)."""
    from automl.worker import worker_command

    out = []
    for slot in study["slots"]:
        cmd = worker_command(study["study_name"], slot, study["config_path"], study["train"], study["parent_run_id"])
        out.append({"arguments": cmd[3:], "labels": {**(labels or {}), **slot_labels(study["study_name"], slot)}})
    return out
