"""Trial slots as KubernetesPodOperator pods (``executor.kind: kubernetes``).

Each slot's pod runs the same ``python -m automl.worker ...`` arguments as a local
slot. Secrets (storage and MLflow URLs) come only from the Kubernetes Secret
named in the config, as environment variables; the pod spec and command line
carry paths and names only. Pods run as non-root with a read-only root
filesystem, a writable ``/tmp`` scratch volume, and resource limits always set.

The shared state is mounted read-only in pods (plus their own writable ``/tmp``): nothing a
trial pod can write is read back and deserialized by the scheduler's tasks.

``executor.host_chroot`` (development clusters only, e.g. ``../shared/k8s-local``, and only
when the operator sets ``AUTOML_ALLOW_HOST_CHROOT=1``) runs the node's own interpreter from a small image by ``chroot``-ing into the
node's ``/``: the one case where a pod runs as uid 0, with every capability
dropped but ``SYS_CHROOT``.

:class:`TrialPodReaper` is the pruning sensor's enforcement: it deletes the pod
of a trial that ignored its stop signal (selected by the study and slot labels).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from automl.config import ConfigError, StudyConfig

SCRATCH = "/tmp"
HOST_ROOT = "/host"
ALLOW_HOST_CHROOT_ENV = "AUTOML_ALLOW_HOST_CHROOT"  # the operator's switch; never a study file's
POD_NAME_ENV = "AUTOML_POD_NAME"  # the worker records it on its trial (downward API)
log = logging.getLogger(__name__)


def label_value(text: str) -> str:
    """A valid Kubernetes label value (63 characters of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[-63:].strip("-_.") or "x"


def slot_labels(study_name: str, slot: int | str) -> dict[str, str]:
    """Labels that select a study's pods, and one slot's pod (used to delete a stuck trial)."""
    return {"app.kubernetes.io/name": "automl-trial", "automl/study": label_value(study_name), "automl/slot": str(slot)}


def _security(config: StudyConfig) -> tuple[Any, Any]:
    """(pod, container) security contexts: non-root always, except the dev-only host chroot."""
    from kubernetes.client import models as k8s

    ex = config.executor
    if ex.host_chroot:  # chroot(2) needs uid 0 and CAP_SYS_CHROOT; nothing else is granted
        pod = k8s.V1PodSecurityContext(run_as_non_root=False, run_as_user=0, run_as_group=0)
        caps = k8s.V1Capabilities(drop=["ALL"], add=["SYS_CHROOT"])
        container = k8s.V1SecurityContext(
            run_as_non_root=False,
            run_as_user=0,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            capabilities=caps,
        )
        return pod, container
    pod = k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=ex.run_as_user,
        run_as_group=ex.run_as_user,
        fs_group=ex.run_as_user,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),  # Pod Security `restricted`
    )
    container = k8s.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=ex.run_as_user,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
    )
    return pod, container


def pod_operator_kwargs(config: StudyConfig) -> dict[str, Any]:
    """Keyword arguments for ``KubernetesPodOperator.partial(...)`` from the study config."""
    from kubernetes.client import models as k8s

    from automl.paths import state_dir

    ex = config.executor
    if ex.host_chroot and os.environ.get(ALLOW_HOST_CHROOT_ENV) != "1":
        raise ConfigError(
            f"executor.host_chroot runs trial pods as root with the node's filesystem: the operator must enable "
            f"it ({ALLOW_HOST_CHROOT_ENV}=1 in the scheduler's and DAG processor's environment); a study file cannot"
        )
    limits = {"cpu": ex.cpu_limit, "memory": ex.memory_limit}
    if ex.gpus:
        limits["nvidia.com/gpu"] = str(ex.gpus)
    volumes = [k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="1Gi"))]
    mounts = [k8s.V1VolumeMount(name="scratch", mount_path=SCRATCH)]
    cmds = [*ex.command, "-m", "automl.worker"]
    if ex.host_chroot:
        volumes.append(k8s.V1Volume(name="host", host_path=k8s.V1HostPathVolumeSource(path="/", type="Directory")))
        mounts.append(k8s.V1VolumeMount(name="host", mount_path=HOST_ROOT))
        cmds = ["chroot", HOST_ROOT, *cmds]
    elif ex.shared_volume_claim or ex.shared_host_path:
        source: dict[str, Any] = (
            {"persistent_volume_claim": k8s.V1PersistentVolumeClaimVolumeSource(claim_name=ex.shared_volume_claim)}
            if ex.shared_volume_claim
            else {"host_path": k8s.V1HostPathVolumeSource(path=ex.shared_host_path, type="Directory")}
        )
        volumes.append(k8s.V1Volume(name="automl-state", **source))
        # read-only: a trial reads the run's config and training matrix and writes nothing the
        # scheduler's tasks read back (its results go to the study storage; its scratch is /tmp)
        mounts.append(k8s.V1VolumeMount(name="automl-state", mount_path=str(state_dir()), read_only=True))
    pod_security, container_security = _security(config)
    env = [
        k8s.V1EnvVar(name=name, value=value)
        for name, value in {
            "HOME": SCRATCH,
            "TMPDIR": SCRATCH,
            "MPLCONFIGDIR": SCRATCH,
            "AUTOML_HOME": str(state_dir()),
            "PYTHONUNBUFFERED": "1",
        }.items()
    ]
    env.append(
        k8s.V1EnvVar(
            name=POD_NAME_ENV,
            value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name")),
        )
    )
    kwargs: dict[str, Any] = {
        "namespace": ex.namespace,
        "image": ex.image,
        "image_pull_policy": ex.image_pull_policy,
        "cmds": cmds,
        "container_resources": k8s.V1ResourceRequirements(
            requests={"cpu": ex.cpu_request, "memory": ex.memory_request}, limits=limits
        ),
        "security_context": pod_security,
        "container_security_context": container_security,
        "volumes": volumes,
        "volume_mounts": mounts,
        "env_vars": env,
        "node_selector": ex.node_selector or None,
        "tolerations": [k8s.V1Toleration(**t) for t in ex.tolerations] or None,
        "service_account_name": ex.service_account,
        "active_deadline_seconds": ex.active_deadline_s,
        "hostnetwork": ex.host_network,
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


class TrialPodReaper:
    """Delete the pod of a trial that ignored its stop signal (the sensor's enforcement).

    The pod is found by its labels (``automl/study`` + ``automl/slot``, the slot that owns
    the trial) and, where the worker recorded it, by the trial's pod name, so a later pod
    of the same slot is never hit. Needs a namespaced Role with pods get/list/watch/delete.
    """

    def __init__(self, config: StudyConfig, study_name: str) -> None:
        self.config, self.study_name = config, study_name
        self._api: Any = None

    def api(self) -> Any:
        if self._api is None:
            from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

            ex = self.config.executor
            hook = KubernetesHook(conn_id=ex.kubernetes_conn_id, in_cluster=ex.kubernetes_conn_id is None)
            self._api = hook.core_v1_client
        return self._api

    def selector(self, slot: int | str) -> str:
        return ",".join(f"{k}={v}" for k, v in slot_labels(self.study_name, slot).items())

    def __call__(self, trial: Any) -> list[str]:
        """Delete the trial's pod now (no termination grace: it already ignored its signal)."""
        key = trial.user_attrs.get("slot_key")
        if not key:
            log.warning("trial %d has no slot key; cannot find its pod", trial.number)
            return []
        ns = self.config.executor.namespace
        pods = self.api().list_namespaced_pod(ns, label_selector=self.selector(str(key).split(":")[0])).items
        recorded = trial.user_attrs.get("pod")
        deleted = []
        for pod in pods:
            name = pod.metadata.name
            if recorded and name != recorded:
                continue
            self.api().delete_namespaced_pod(name, ns, grace_period_seconds=0)
            deleted.append(name)
        return deleted
