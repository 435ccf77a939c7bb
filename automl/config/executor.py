"""Where trial slots run: in the Airflow task or as Kubernetes pods."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from automl.config.base import _Strict


def _strings(value: Any) -> list[str]:
    """Every string in a value (keys of mappings included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


class ExecutorConfig(_Strict):
    """Where trial slots run: in the Airflow task (``local``) or as Kubernetes pods.

    Pods run the same ``python -m automl.worker ...`` command. Storage and MLflow URLs reach
    them only through the Kubernetes Secret ``secret_name`` (as ``AUTOML_STORAGE`` and
    ``MLFLOW_TRACKING_URI``), never through the command line or the pod spec. The run's data
    folder must be shared with the pods: ``shared_volume_claim`` (a PVC) or ``shared_host_path``.
    """

    kind: Literal["local", "kubernetes"] = Field("local", description="run slots in the Airflow task or as pods")
    image: str = Field("automl-worker:0.1.0", description="the trial pods' container image")
    namespace: str = Field("default", description="Kubernetes namespace of the trial pods")
    gpus: int = Field(0, ge=0, le=16, description="nvidia.com/gpu limit per trial pod")
    cpu_request: str = Field("500m", description="CPU request per trial pod")
    cpu_limit: str = Field("1", description="CPU limit per trial pod")
    memory_request: str = Field("1Gi", description="memory request per trial pod")
    memory_limit: str = Field("2Gi", description="memory limit per trial pod")
    node_selector: dict[str, str] = Field(default_factory=dict, description="node labels the trial pods require")
    tolerations: list[dict[str, str]] = Field(default_factory=list, description="taints the trial pods tolerate")
    service_account: str | None = Field(None, description="service account of the trial pods (default: namespace's)")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="when the node pulls the image"
    )
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels on the trial pods")
    active_deadline_s: int | None = Field(None, ge=1, description="Kubernetes ends a trial pod running this long")
    secret_name: str | None = Field(None, description="Kubernetes Secret with AUTOML_STORAGE / MLFLOW_TRACKING_URI")
    command: list[str] = Field(default_factory=lambda: ["python"], description="the interpreter inside the image")
    run_as_user: int = Field(10001, ge=1, description="pods never run as root")
    shared_volume_claim: str | None = Field(None, description="PVC holding the run's data folder, mounted in pods")
    shared_host_path: str | None = Field(None, description="node folder holding the run's data folder, mounted in pods")
    kubernetes_conn_id: str | None = Field(None, description="Airflow connection for the cluster (default: in-cluster)")
    host_network: bool = Field(False, description="pods share the node's network (reach services on its 127.0.0.1)")
    host_chroot: bool = Field(
        False,
        description="DEV/TEST ONLY, and only where the operator sets AUTOML_ALLOW_HOST_CHROOT=1 for Airflow "
        "(single-node clusters such as ../shared/k8s-local): instead of the image's "
        "Python, mount the node's / at /host and chroot into it, running `command` (an absolute path of an "
        "interpreter on the node). chroot needs root, so such pods run as uid 0 with every capability dropped "
        "but SYS_CHROOT; never use it on a shared cluster",
    )

    @model_validator(mode="after")
    def _no_templates(self) -> ExecutorConfig:
        """Pod fields are Jinja-templated by Airflow: a study file must not render ``{{ conn.X.password }}``."""
        bad = [
            name
            for name, value in self.model_dump().items()
            if any(("{{" in s or "{%" in s or "{#" in s) for s in _strings(value))
        ]
        if bad:
            raise ValueError(f"{bad}: '{{{{', '{{%' and '{{#' (Jinja templates) are not allowed in pod fields")
        return self

    @model_validator(mode="after")
    def _chroot(self) -> ExecutorConfig:
        if self.host_chroot:
            if not self.command or not self.command[0].startswith("/"):
                raise ValueError(
                    "host_chroot needs `command` to start with the absolute path of the node's interpreter"
                )
            if self.shared_volume_claim or self.shared_host_path:
                raise ValueError(
                    "host_chroot sees the node's whole filesystem: drop shared_volume_claim/shared_host_path"
                )
        return self
