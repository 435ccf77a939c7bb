"""Trial slots as real pods on a real local Kubernetes (``make test-k8s``; ``../shared/k8s-local``).

One DAG run of a small demo-like study with ``executor: kubernetes`` through ``dag.test(use_executor=True)``
(LocalExecutor, so the mapped pod tasks and the pruning sensor run side by side, as under the scheduler):

1. each trial slot is a pod (GPU limit 1) whose log is streamed into the Airflow task log; the run succeeds;
   the study (PostgreSQL, unique name) and MLflow (a server on 127.0.0.1) hold every trial; the storage and
   MLflow URLs reach pods only through a Kubernetes Secret and appear in no pod spec, log or config file;
2. with 2 GPUs advertised and parallelism 4, at most 2 trial pods run at once, the others wait Pending
   (``Insufficient nvidia.com/gpu``) and then complete: shown from the pods' watch timeline and events;
3. a trial told to stop that ignores it (its worker process is frozen with SIGSTOP: a hung worker that never
   reaches its next report) has its pod deleted by the sensor within ``stop_grace_s`` (+ one poke) and ends PRUNED.

Airflow talks to the cluster as the ``automl-airflow`` service account of ``docker/k8s/rbac.yaml`` (applied
here for real; its token is the Airflow connection's kubeconfig), so the run also proves that those namespaced
Roles are enough for the pod operator and the sensor; ``docker/k8s/airflow.yaml`` gets a server-side dry run.

The cluster is started here and stopped in a ``finally``; nothing is left running.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import POSTGRES_URL, ROOT, TEST_DAGS
from helpers import mlflow_server_command

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.postgres]

KIT = Path(
    os.environ.get("K8S_LOCAL_KIT")
    or next(
        (p for p in (ROOT.parent / "shared" / "k8s-local", Path("/work/shared/k8s-local")) if (p / "up.sh").exists()),
        ROOT.parent / "shared" / "k8s-local",
    )
)
GPUS = 2
PARALLELISM = 4
GRACE_S = 8
POKE_S = 2
SECRET_NAME = "automl-test-urls"
NAMESPACE = "automl"  # from docker/k8s/namespace.yaml
K8S_DIR = ROOT / "docker" / "k8s"

# the trial pods run the worker image built by `make images`, imported into the cluster's containerd
# (imagePullPolicy Never); AUTOML_TEST_K8S_CHROOT=1 (`make test-k8s K8S_CHROOT=1`) is the quick local opt-in
# that chroots into this host's virtualenv instead (no image build)
CHROOT = os.environ.get("AUTOML_TEST_K8S_CHROOT") == "1"
WORKER_IMAGE = os.environ.get("WORKER_IMAGE", "localhost/automl-worker:0.1.0")

if os.environ.get("AUTOML_TEST_K8S") != "1":
    pytest.skip("the real-cluster test runs with `make test-k8s` (AUTOML_TEST_K8S=1)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"{what} not up after {timeout} s ({url})")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to the process group this test started."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # children that outlived the leader
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """``up.sh`` with 2 advertised GPUs in a private run dir; ``down.sh`` in a finally."""
    if os.geteuid() != 0 or not (KIT / "up.sh").exists():
        msg = f"the local Kubernetes kit needs root and {KIT}/up.sh"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    run_dir = tmp_path_factory.mktemp("k8s-local")
    env = {**os.environ, "K8S_LOCAL_DIR": str(run_dir), "K8S_LOCAL_GPUS": str(GPUS)}
    started = time.time()
    try:
        if not CHROOT:  # the built worker image as an archive, imported by up.sh into the cluster's containerd
            archive = Path(os.environ.get("AUTOML_IMAGES_DIR", ROOT / ".automl" / "images")) / "worker.tar"
            save = subprocess.run(
                ["bash", str(ROOT / "scripts" / "images.sh"), "save", WORKER_IMAGE, str(archive)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert save.returncode == 0, f"no built worker image (run `make images`):\n{save.stdout}{save.stderr}"
            print(save.stdout.strip())
            env["K8S_LOCAL_IMAGES"] = str(archive)
        up = subprocess.run(["bash", str(KIT / "up.sh")], env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, f"up.sh failed:\n{up.stdout[-2000:]}\n{up.stderr[-4000:]}"
        kubeconfig = run_dir / "kubeconfig"
        print(f"cluster up in {time.time() - started:.1f} s")
        built = "" if CHROOT else Path(f"{env['K8S_LOCAL_IMAGES']}.id").read_text().strip()
        yield {"kubeconfig": str(kubeconfig), "run_dir": run_dir, "image_id": built}
    finally:
        t0 = time.time()
        down = subprocess.run(["bash", str(KIT / "down.sh")], env=env, capture_output=True, text=True, timeout=120)
        print(f"cluster down in {time.time() - t0:.1f} s (rc {down.returncode})")
        left = []
        for pid_file in run_dir.glob("*.pid"):
            pid = int(pid_file.read_text().split()[0])
            if Path(f"/proc/{pid}").exists():
                left.append(f"{pid_file.name}:{pid}")
        assert down.returncode == 0 and not left, f"down.sh rc {down.returncode}, still running: {left}"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An MLflow tracking server on 127.0.0.1 (pods reach it with hostNetwork)."""
    d = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    proc = subprocess.Popen(
        mlflow_server_command(port, d),
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=open(d / "server.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:  # started here, waited for in the test: it comes up while the cluster starts
        url = f"http://127.0.0.1:{port}"
        yield {"url": url, "ready": lambda: _wait_http(f"{url}/health", proc, 120, "mlflow server")}
    finally:
        _stop_group(proc)


@pytest.fixture(scope="module")
def execution_api(tmp_path_factory: pytest.TempPathFactory, airflow_db: None):  # type: ignore[no-untyped-def]
    """Airflow's Execution API (``api-server --apps execution``) for the LocalExecutor's task processes."""
    d = tmp_path_factory.mktemp("api")
    port = _free_port()
    os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_hex(16)
    os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.Popen(
        [str(airflow), "api-server", "--apps", "execution", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=open(d / "api.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/execution/health"
        yield {"port": port, "ready": lambda: _wait_http(url, proc, 180, "airflow api-server")}
    finally:
        _stop_group(proc)
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"):
            os.environ.pop(key, None)


class PodWatch(threading.Thread):
    """Record every watch event of the trial pods: (time, type, name, phase, scheduled?, container state)."""

    def __init__(self, api: Any, selector: str) -> None:
        super().__init__(daemon=True, name="pod-watch")
        self.api, self.selector = api, selector
        self.events: list[dict[str, Any]] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        from kubernetes import watch

        while not self._halt.is_set():
            w = watch.Watch()
            try:
                for ev in w.stream(
                    self.api.list_namespaced_pod, NAMESPACE, label_selector=self.selector, timeout_seconds=5
                ):
                    self._record(ev)
                    if self._halt.is_set():
                        break
            except Exception as err:  # keep watching through API hiccups
                self.events.append({"t": time.time(), "type": "ERROR", "error": str(err)})
                time.sleep(0.5)

    def _record(self, ev: dict[str, Any]) -> None:
        pod = ev["object"]
        name = pod.metadata.name
        cond = {c.type: c for c in (pod.status.conditions or [])}
        sched = cond.get("PodScheduled")
        cs = (pod.status.container_statuses or [None])[0]
        state = None
        if cs is not None and cs.state is not None:
            if cs.state.running:
                state = ("running", cs.state.running.started_at, None)
            elif cs.state.terminated:
                state = ("terminated", cs.state.terminated.started_at, cs.state.terminated.finished_at)
        self.events.append(
            {
                "t": time.time(),
                "type": ev["type"],
                "name": name,
                "slot": pod.metadata.labels.get("automl/slot"),
                "phase": pod.status.phase,
                "unschedulable": bool(sched and sched.status == "False" and sched.reason == "Unschedulable"),
                "node": pod.spec.node_name,
                "state": state,
            }
        )
        self.pods[name] = pod.to_dict()

    def stop(self) -> None:
        self._halt.set()
        self.join(15)


def _intervals(watch: PodWatch) -> dict[str, dict[str, Any]]:
    """Per pod: created, bound to the node, container start/end (watch times), slot, deletion time."""
    out: dict[str, dict[str, Any]] = {}
    for e in watch.events:
        if "name" not in e:
            continue
        p = out.setdefault(e["name"], {"slot": e["slot"], "created": e["t"], "pending_gpu": False})
        p["pending_gpu"] |= e["unschedulable"]
        if e["node"] and "bound" not in p:
            p["bound"] = e["t"]
        if e["state"] and e["state"][0] == "running" and "start" not in p:
            p["start"] = e["t"]
            p["started_at"] = e["state"][1]
        if e["state"] and e["state"][0] == "terminated":
            p.setdefault("end", e["t"])
            p["finished_at"] = e["state"][2]
        if e["type"] == "DELETED":
            p["deleted"] = e["t"]
            p.setdefault("end", e["t"])
    return out


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, d in points:
        cur += d
        best = max(best, cur)
    return best


def _worker_pid(study_name: str, slot: int) -> int | None:
    """The host PID of a slot's worker (the pod's process, seen from the node)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "automl.worker" in args and study_name in args and args[args.index("--slot") + 1] == str(slot):
            return int(proc.name)
    return None


def _airflow_side(api_client: Any, admin_kubeconfig: str, out: Path) -> str:
    """Apply docker/k8s's namespace and RBAC, dry-run the Airflow manifests on the server, and write a
    kubeconfig that acts as the ``automl-airflow`` service account (its token; Kubernetes 1.20 mints it)."""
    from kubernetes import client as k8s
    from kubernetes import utils

    utils.create_from_yaml(api_client, str(K8S_DIR / "namespace.yaml"))
    # this dev cluster runs host_chroot + hostNetwork pods, which Pod Security `restricted` (the manifest's
    # enforcement) refuses on Kubernetes >= 1.23; the operator of a dev cluster relaxes its own namespace
    k8s.CoreV1Api(api_client).patch_namespace(
        NAMESPACE, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    )
    utils.create_from_yaml(api_client, str(K8S_DIR / "rbac.yaml"))
    utils.create_from_yaml(api_client, str(K8S_DIR / "airflow.yaml"), dry_run="All")  # server-side validation
    core = k8s.CoreV1Api(api_client)
    deadline = time.time() + 60
    while not (core.read_namespaced_service_account("automl-airflow", NAMESPACE).secrets or time.time() > deadline):
        time.sleep(0.5)
    name = core.read_namespaced_service_account("automl-airflow", NAMESPACE).secrets[0].name
    token = base64.b64decode(core.read_namespaced_secret(name, NAMESPACE).data["token"]).decode()
    kc = yaml.safe_load(Path(admin_kubeconfig).read_text())
    kc["users"] = [{"name": "automl-airflow", "user": {"token": token}}]
    kc["contexts"][0]["context"].update(user="automl-airflow", namespace=NAMESPACE)
    path = out / "automl-airflow.kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    path.chmod(0o600)
    return str(path)


def _can(api_client: Any, verb: str, resource: str, namespace: str) -> bool:
    from kubernetes import client as k8s

    review = k8s.V1SubjectAccessReview(
        spec=k8s.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{NAMESPACE}:automl-airflow",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"],
            resource_attributes=k8s.V1ResourceAttributes(namespace=namespace, verb=verb, resource=resource),
        )
    )
    return bool(k8s.AuthorizationV1Api(api_client).create_subject_access_review(review).status.allowed)


def _executor_yaml(python: str, state_dir: str) -> str:
    """The pods' image: the built worker image (default), or the host chroot opt-in."""
    if CHROOT:
        return f"""\
  image: docker.io/library/busybox:1.36
  image_pull_policy: IfNotPresent
  host_chroot: true       # dev cluster: the node's virtualenv via chroot instead of a worker image
  command: [{python}]
"""
    return f"""\
  image: {WORKER_IMAGE}
  image_pull_policy: Never  # imported into the node's containerd; no registry
  shared_host_path: {state_dir}  # the run's config and training matrix, mounted read-only
"""


def _study_yaml(python: str, state_dir: str) -> str:
    return f"""\
name: k8s_demo
description: the demo study, small, with every trial slot a Kubernetes pod (make test-k8s)
dataset: {{source: "sklearn:breast_cancer", target: target, holdout_fraction: 0.25}}
task: classification
metric: roc_auc
model_space: [lightgbm]
sampler: random
pruning: {{rule: none, poke_interval_s: {POKE_S}, stop_grace_s: {GRACE_S}, heartbeat_interval_s: 2,
          stale_after_s: 600}}
features: {{trans_primitives: [add_numeric], max_generated: 40}}
budget: {{n_trials: 4, parallelism: {PARALLELISM}, trials_per_slot: 1, cv_folds: 2, max_rounds: 3000,
         report_every: 20, early_stopping_rounds: 100000, timeout_s: 300}}
warm_start: {{enabled: false}}
retries: 1
retry_delay_s: 1
seed: 11
executor:
  kind: kubernetes
{_executor_yaml(python, state_dir)}  namespace: {NAMESPACE}
  gpus: 1
  cpu_request: 50m
  cpu_limit: "1"
  memory_request: 200Mi
  memory_limit: 2Gi
  secret_name: {SECRET_NAME}
  kubernetes_conn_id: k8s_local
  labels: {{suite: automl-k8s-test}}
  active_deadline_s: 300
  host_network: true      # the storage and MLflow listen on the node's 127.0.0.1
"""


def test_study_runs_as_gpu_pods(  # type: ignore[no-untyped-def]
    mlflow_server, execution_api, cluster, postgres_url, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    mlflow_server["ready"]()
    execution_api["ready"]()
    mlflow_url = mlflow_server["url"]
    admin = k8s_config.new_client_from_config(cluster["kubeconfig"])
    api = k8s.CoreV1Api(admin)
    sa_kubeconfig = _airflow_side(admin, cluster["kubeconfig"], cluster["run_dir"])
    # the service account may run and reap trial pods in its namespace, and nothing more
    assert _can(admin, "delete", "pods", NAMESPACE) and _can(admin, "create", "pods", NAMESPACE)
    assert not _can(admin, "delete", "pods", "default") and not _can(admin, "get", "secrets", NAMESPACE)
    assert not _can(admin, "create", "deployments", NAMESPACE)
    token = secrets.token_hex(12)  # a password the trust-auth server ignores: the "secret" we track
    storage = POSTGRES_URL.replace("postgres@", f"postgres:{token}@")
    assert token in storage
    api.create_namespaced_secret(
        NAMESPACE,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET_NAME),
            string_data={"AUTOML_STORAGE": storage, "MLFLOW_TRACKING_URI": mlflow_url},
        ),
    )
    # the Airflow side: the same URLs in its environment, the cluster as an Airflow connection
    monkeypatch.setenv("AUTOML_STORAGE", storage)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_K8S_LOCAL",
        json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": sa_kubeconfig, "in_cluster": False}}),
    )
    state_dir = Path(os.environ["AUTOML_HOME"])
    if CHROOT:
        monkeypatch.setenv("AUTOML_ALLOW_HOST_CHROOT", "1")  # the operator's switch: the study uses host_chroot
    else:  # the image's non-root user (uid 10001) reads the mounted state: the session folder is mkdtemp's 0700
        state_dir.mkdir(parents=True, exist_ok=True)
        state_dir.parent.chmod(0o755)
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "8")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    study_file = TEST_DAGS / "studies" / "k8s_demo.yaml"
    study_file.write_text(_study_yaml(sys.executable, str(state_dir)))
    watch = PodWatch(api, "app.kubernetes.io/name=automl-trial,suite=automl-k8s-test")
    frozen: dict[str, Any] = {}
    try:
        from automl_airflow.local import load_dags

        from automl.config import load_config
        from automl.pipeline import study_name_for
        from automl.pruning.control import signal_stop
        from automl.study import open_study

        config = load_config(study_file)
        dag = load_dags(TEST_DAGS / "automl_studies.py")["automl_k8s_demo"]
        watch.start()

        def freeze_one() -> None:
            """Wait for a running trial, freeze its worker (SIGSTOP), then tell the trial to stop."""
            deadline, study = time.time() + 240, None
            runs = Path(os.environ["AUTOML_HOME"]) / "runs"
            while time.time() < deadline and "signalled" not in frozen:
                time.sleep(0.1)
                if study is None:
                    names = [n for n in os.listdir(runs) if n.startswith("k8s_demo")] if runs.exists() else []
                    try:
                        study = open_study(config, names[0]) if names else None
                    except Exception:  # created by the create_study task a moment later
                        continue
                    if study is None:
                        continue
                for t in study.get_trials(deepcopy=False):
                    if t.state.name != "RUNNING" or not t.intermediate_values:
                        continue
                    slot = int(t.user_attrs["slot_key"].split(":")[0])
                    pid = _worker_pid(study.study_name, slot)
                    if pid is None:
                        continue
                    os.kill(pid, signal.SIGSTOP)
                    if study.get_trials(deepcopy=False)[t.number].state.name != "RUNNING":
                        os.kill(pid, signal.SIGCONT)  # it finished meanwhile: pick another
                        continue
                    signal_stop(study, t, "test: stop now")
                    frozen.update(
                        signalled=time.time(), number=t.number, slot=slot, pid=pid, pod=t.user_attrs.get("pod")
                    )
                    return

        freezer = threading.Thread(target=freeze_one, daemon=True)
        freezer.start()
        started = time.time()
        dr = dag.test(use_executor=True)
        dag_seconds = time.time() - started
        freezer.join(5)
    finally:
        watch.stop()
        if frozen.get("pid") and Path(f"/proc/{frozen['pid']}").exists():
            os.kill(frozen["pid"], signal.SIGKILL)  # only if the sensor did not get it
        study_file.unlink()

    assert str(dr.state) == "success", f"DAG run ended {dr.state}"
    study_name = study_name_for(config, dr.run_id)
    study = open_study(config, study_name)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)

    # --- 3. the frozen trial: deleted by the sensor within the grace period, ended PRUNED (not FAILED)
    assert frozen, "no running trial was caught to freeze"
    stuck = trials[frozen["number"]]
    assert stuck.state.name == "PRUNED", stuck.state
    assert "ignored its stop signal" in stuck.system_attrs["automl:force_pruned"]
    spans = _intervals(watch)
    stuck_pod = frozen["pod"]
    assert stuck_pod in spans and "deleted" in spans[stuck_pod], f"pod {stuck_pod} was not deleted"
    took = spans[stuck_pod]["deleted"] - frozen["signalled"]
    poke_cost = 15  # a reschedule-mode poke: the LocalExecutor starts a task process (~5-10 s on 2 busy cores)
    assert GRACE_S <= took + 1 <= GRACE_S + POKE_S + poke_cost, f"deleted {took:.1f} s after the signal"

    # --- 1. every trial ran in a pod, and the study and MLflow hold all of them
    assert len(trials) == config.budget.n_trials == 4
    assert sorted(t.user_attrs["slot_key"] for t in trials) == ["0:0", "1:0", "2:0", "3:0"]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3
    assert all(t.user_attrs.get("pod") in spans for t in trials)  # recorded by the worker from the pod
    from automl import tracking

    parent = tracking.find_parent_run(config, study_name)
    assert parent is not None
    mlc = tracking.client(config)
    children = mlc.search_runs([tracking.experiment_id(config)], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [t.number for t in trials]
    assert mlc.get_run(parent).info.status == "FINISHED"
    # GPU limit 1 on every trial pod; the Secret by reference; the token nowhere in specs, logs, config
    for name, pod in watch.pods.items():
        c = pod["spec"]["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "1", name
        if not CHROOT:  # the built image, never pulled; no host path but the read-only state folder
            assert (c["image"], c["image_pull_policy"]) == (WORKER_IMAGE, "Never"), name
            host_paths = [v["host_path"]["path"] for v in pod["spec"]["volumes"] if v.get("host_path")]
            assert host_paths == [str(state_dir)], host_paths
            state_mounts = [m for m in c["volume_mounts"] if m["mount_path"] == str(state_dir)]
            assert [m["read_only"] for m in state_mounts] == [True]
            assert pod["spec"]["security_context"]["run_as_user"] == 10001 and c["command"][0] == "python"
    if not CHROOT:  # the containers ran the very image `make images` built (its ID, as the kubelet reports it)
        ran = {cs["image_id"] for p in watch.pods.values() for cs in p["status"].get("container_statuses") or []}
        print(f"built image {cluster['image_id']}; the pods ran {ran}")
        assert ran and all(cluster["image_id"].removeprefix("sha256:") in i for i in ran if i), ran
        assert c["env_from"][0]["secret_ref"]["name"] == SECRET_NAME
        assert token not in json.dumps(pod, default=str)
    logs = sorted((Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*.log"))
    trial_logs = [p for p in logs if f"run_id={dr.run_id}" in str(p) and "task_id=run_trial" in str(p)]
    assert len(trial_logs) >= 4
    streamed = [p for p in trial_logs if "automl.worker" in p.read_text() and "roc_auc = " in p.read_text()]
    assert len(streamed) >= 3, "the workers' output did not reach the Airflow task logs"
    for p in logs:
        assert token not in p.read_text(errors="replace"), p
    run_folder = Path(os.environ["AUTOML_HOME"]) / "runs" / study_name
    for p in run_folder.glob("*.json"):
        assert token not in p.read_text(), p

    # --- 2. 2 GPUs, parallelism 4: at most 2 pods bound at once; others waited Pending for the GPU
    complete = {n: s for n, s in spans.items() if "bound" in s and "end" in s}
    assert len(complete) >= 4
    assert _max_overlap([(s["bound"], s["end"]) for s in complete.values()]) <= GPUS
    assert _max_overlap([(s["created"], s["end"]) for s in complete.values()]) > GPUS  # more wanted to run
    waited = [n for n, s in spans.items() if s["pending_gpu"]]
    assert waited and all("bound" in spans[n] for n in waited), "a Pending pod never got its GPU"
    events = api.list_namespaced_event(NAMESPACE, field_selector="reason=FailedScheduling").items
    gpu_msgs = [e for e in events if e.involved_object.name in spans and "Insufficient nvidia.com/gpu" in e.message]
    assert gpu_msgs, "no FailedScheduling event for nvidia.com/gpu"

    t0 = min(s["created"] for s in spans.values())
    rows = [
        f"{'pod':<48} {'slot':>4} {'created':>8} {'bound':>8} {'running':>8} {'ended':>8} {'pending_gpu':>11}",
    ]
    for name, s in sorted(spans.items(), key=lambda kv: kv[1]["created"]):
        cells = [f"{s[k] - t0:8.1f}" if k in s else f"{'-':>8}" for k in ("created", "bound", "start", "end")]
        rows.append(f"{name:<48} {s['slot']:>4} {' '.join(cells)} {str(s['pending_gpu']):>11}")
    print("\n".join(rows))
    print(f"FailedScheduling events: {[e.message for e in gpu_msgs][:2]}")
    print(
        json.dumps(
            {
                "dag_test_s": round(dag_seconds, 1),
                "max_bound_at_once": _max_overlap([(s["bound"], s["end"]) for s in complete.values()]),
                "pods_pending_for_gpu": len(waited),
                "stuck_trial": frozen["number"],
                "signal_to_pod_deleted_s": round(took, 1),
                "stop_grace_s": GRACE_S,
            }
        )
    )
    shutil.rmtree(run_folder, ignore_errors=True)
