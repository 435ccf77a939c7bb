"""The compose stack for real (``make test-compose``): docker/docker-compose.yml brought up with Debian's
podman-compose from the images ``make images`` built, the demo study DAG triggered through Airflow's REST
API until its run succeeds, then everything torn down and the host checked for leftovers.

The stack runs on host networking (podman must create no bridge and no iptables chain on this machine):
the shipped compose file is rewritten into a temporary copy where every service has ``network_mode: host``,
listens on 127.0.0.1 on free ports, and finds the others at 127.0.0.1 instead of their service names; the
images, commands, environment, volumes, secrets, healthchecks and dependencies are the shipped file's.

podman-compose 1.0.3 (Debian 12) creates the containers (``up --no-start``) but ignores ``depends_on``
conditions, and without systemd podman runs no healthcheck timer: this script starts the services in
dependency order and waits for each condition itself (``service_healthy``: ``podman healthcheck run``,
the command of the compose file's healthcheck; ``service_completed_successfully``: exit code 0).
Its one patch to podman-compose 1.0.3: a service with ``network_mode`` gets no project network (1.0.3
creates one and attaches the container to it whatever ``network_mode`` says; later releases do not).

Secrets (the PostgreSQL password, the JWT secret, the Airflow login, the proxy token) are random (or taken from the
environment: tests/test_compose.py passes its own to check that none is printed), live only in this process's
environment and podman's container configs (removed at teardown), and are checked absent from every
container log. The proxy's TLS certificate and key are made with openssl in a private temporary folder,
removed at the end. Output: each step's wall time, then a summary; ``--report FILE`` writes it as JSON.

usage: compose_smoke.py [--report FILE] [--n-trials N] [--keep-on-failure]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
IMAGES_DIR = Path(os.environ.get("AUTOML_IMAGES_DIR", ROOT / ".automl" / "images"))
PROJECT = "automlsmoke"
DAG_ID = "automl_demo_breast_cancer"
STUDY_FILE = ROOT / "dags" / "studies" / "demo_breast_cancer.yaml"
PROXY_UID = 10001  # the worker image's user: the proxy reads its TLS key
SECRET_NAMES = ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "AUTOML_PROXY_TOKEN")

# podman-compose 1.0.3 with one fix: no project network for a service that has network_mode
PODMAN_COMPOSE = """
import sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import podman_compose as pc
_assert_nets, _net_args = pc.assert_cnt_nets, pc.get_net_args
pc.assert_cnt_nets = lambda compose, cnt: None if cnt.get("network_mode") else _assert_nets(compose, cnt)
pc.get_net_args = lambda compose, cnt: [] if cnt.get("network_mode") else _net_args(compose, cnt)
sys.argv[0] = "podman-compose"
pc.main()
"""


class SmokeError(RuntimeError):
    pass


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_STORAGE_CONF"] = str(IMAGES_DIR / "conf" / "storage.conf")
    env["CONTAINERS_CONF"] = str(IMAGES_DIR / "conf" / "containers.conf")
    env["DISABLE_HC_SYSTEMD"] = "true"  # no systemd here: healthchecks are run on demand, not by a timer
    return env


def podman(*args: str, timeout: float = 120, check: bool = False, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=env or podman_env())
    if check and proc.returncode != 0:
        raise SmokeError(f"podman {' '.join(args[:3])} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def host_state() -> dict[str, list[str]]:
    """What a stack could leave behind: containers, pods, volumes, networks, links, firewall chains."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    chains: list[str] = []
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            out = subprocess.run([tool], capture_output=True, text=True).stdout
            table = ""
            for line in out.splitlines():
                if line.startswith("*"):
                    table = line[1:]
                elif line.startswith(":"):
                    chains.append(f"{tool}:{table}:{line[1:].split()[0]}")
    nft = ""
    if shutil.which("nft"):
        nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {
        "containers": sorted(podman("ps", "-a", "--format", "{{.Names}}").split()),
        "pods": sorted(podman("pod", "ls", "--format", "{{.Name}}").split()),
        "volumes": sorted(podman("volume", "ls", "--format", "{{.Name}}").split()),
        "networks": sorted(podman("network", "ls", "--format", "{{.Name}}").split()),
        "links": sorted(line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line),
        "chains": sorted(chains),
        "nft_tables": sorted(nft.splitlines()),
    }


def new_things(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: sorted(set(after[k]) - set(before[k])) for k in after if set(after[k]) - set(before[k])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_network_variant(shipped: dict[str, Any], ports: dict[str, int], secrets_dir: Path) -> dict[str, Any]:
    """The shipped stack on host networking: loopback addresses and free ports, nothing else changed."""
    pg, ml, px, af = ports["postgres"], ports["mlflow"], ports["proxy"], ports["airflow"]
    addresses = {
        "@postgres:5432/": f"@127.0.0.1:{pg}/",
        "http://mlflow:5000": f"http://127.0.0.1:{ml}",
        "http://localhost:5000/": f"http://127.0.0.1:{ml}/",
        "grpc://automl-storage-proxy:13000": f"grpc://127.0.0.1:{px}",
        "http://airflow-api-server:8080/": f"http://127.0.0.1:{af}/",
        "http://localhost:8080/": f"http://127.0.0.1:{af}/",
    }

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in addresses.items():
                value = value.replace(old, new)
            return value
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    def set_args(args: list[str], flag: str, value: str) -> list[str]:
        i = args.index(flag)
        return [*args[: i + 1], value, *args[i + 2 :]]

    stack = rewrite(shipped)
    stack.pop("name", None)  # podman-compose 1.0.3 takes the project name from -p
    for name, svc in stack["services"].items():
        svc["network_mode"] = "host"
        svc.pop("ports", None)
        svc.pop("build", None)
        svc["restart"] = "no"  # a crash fails the smoke test instead of looping
        env = svc.setdefault("environment", {})
        if name == "postgres":
            env["PGPORT"] = str(pg)  # the server's and pg_isready's port
            svc["command"] = ["postgres", "-c", "listen_addresses=127.0.0.1"]
            svc["volumes"] = [
                v.replace("./", f"{COMPOSE_FILE.parent}/", 1) if v.startswith("./") else v for v in svc["volumes"]
            ]
        elif name == "mlflow":
            svc["entrypoint"] = set_args(set_args(svc["entrypoint"], "--host", "127.0.0.1"), "--port", str(ml))
        elif name == "automl-storage-proxy":
            svc["command"] = set_args(set_args(svc["command"], "--host", "127.0.0.1"), "--port", str(px))
        elif name.startswith("airflow-"):
            env.update(
                AIRFLOW__API__HOST="127.0.0.1",
                AIRFLOW__API__PORT=str(af),
                AIRFLOW__CORE__PARALLELISM="4",  # 2 cores
                AUTOML_SCHEDULES="off",  # the study DAGs run only when triggered
            )
            if svc["command"] in (["scheduler"], ["triggerer"]):
                # their log servers bind every interface (no host setting): on host networking, none
                svc["command"] = [*svc["command"], "--skip-serve-logs"]
    for spec in stack.get("secrets", {}).values():
        spec["file"] = str(secrets_dir / Path(spec["file"]).name)
    return stack


def make_tls(folder: Path) -> None:
    """A throwaway self-signed certificate for the proxy: its service name and 127.0.0.1."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "1", "-subj", "/CN=automl-storage-proxy",
            "-addext", "subjectAltName=DNS:automl-storage-proxy,IP:127.0.0.1",
            "-keyout", str(folder / "proxy.key"), "-out", str(folder / "proxy.crt"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    os.chown(folder / "proxy.key", PROXY_UID, PROXY_UID)
    os.chmod(folder / "proxy.key", 0o400)
    os.chmod(folder / "proxy.crt", 0o644)


def deps_order(services: dict[str, Any]) -> list[str]:
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        if name in order:
            return
        if name in path:
            raise SmokeError(f"dependency cycle: {' -> '.join((*path, name))}")
        for dep in services[name].get("depends_on", {}):
            visit(dep, (*path, name))
        order.append(name)

    for name in services:
        visit(name)
    return order


class Stack:
    def __init__(self, compose_file: Path, env: dict[str, str], secret_values: list[str]) -> None:
        self.file = compose_file
        self.env = env
        self.secret_values = secret_values
        self.services: dict[str, Any] = yaml.safe_load(compose_file.read_text())["services"]
        self.compose_log: list[str] = []

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"

    def redact(self, text: str) -> str:
        for value in self.secret_values:
            text = text.replace(value, "***")
        return text

    def compose(self, *args: str, timeout: float = 300) -> None:
        """podman-compose, its output kept (redacted: it echoes each podman command with its -e values)."""
        cmd = ["/usr/bin/python3", "-c", PODMAN_COMPOSE]  # Debian's podman-compose runs on the system Python
        cmd += ["-p", PROJECT, "-f", str(self.file), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env)
        self.compose_log.append(self.redact(f"$ podman-compose {' '.join(args)}\n{proc.stdout}{proc.stderr}"))
        if proc.returncode != 0:
            raise SmokeError(f"podman-compose {' '.join(args)} failed:\n{self.compose_log[-1][-3000:]}")

    def state(self, service: str) -> tuple[str, int]:
        out = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container(service))
        status, code = (out.split() + ["missing", "-1"])[:2]
        return status, int(code)

    def healthy(self, service: str) -> bool:
        proc = subprocess.run(
            ["podman", "healthcheck", "run", self.container(service)],
            capture_output=True, text=True, timeout=60, env=podman_env(),
        )  # fmt: skip
        return proc.returncode == 0

    def logs(self, service: str, tail: int | None = None) -> str:
        args = ["logs", *(["--tail", str(tail)] if tail else []), self.container(service)]
        proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=60, env=podman_env())
        return proc.stdout + proc.stderr

    def wait_for(self, service: str, condition: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status, code = self.state(service)
            if condition == "service_completed_successfully":
                if status == "exited":
                    if code == 0:
                        return
                    raise SmokeError(f"{service} exited with {code}:\n{self.redact(self.logs(service, 40))}")
            elif status != "running":
                raise SmokeError(f"{service} is {status} (exit {code}):\n{self.redact(self.logs(service, 40))}")
            elif condition == "service_started" or (condition == "service_healthy" and self.healthy(service)):
                return
            if time.monotonic() > deadline:
                raise SmokeError(
                    f"{service}: not {condition} after {timeout:.0f} s:\n{self.redact(self.logs(service, 40))}"
                )
            time.sleep(1)

    def start(self, service: str) -> None:
        podman("start", self.container(service), check=True)


class Timer:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - t0
            self.steps.append((label, round(took, 1)))
            print(f"  {label}: {took:.1f} s", flush=True)


def api(url: str, token: str | None = None, data: dict[str, Any] | None = None, method: str = "GET") -> Any:
    req = urllib.request.Request(url, method=method, data=json.dumps(data).encode() if data is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (loopback)
        return json.loads(r.read())


def run_demo(stack: Stack, ports: dict[str, int], n_trials: int, timer: Timer, report: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{ports['airflow']}"
    with timer.step("log in (POST /auth/token)"):
        password = stack.env["AIRFLOW_ADMIN_PASSWORD"]  # the login airflow-init wrote
        token = api(f"{base}/auth/token", data={"username": "admin", "password": password}, method="POST")[
            "access_token"
        ]
    with timer.step(f"{DAG_ID} parsed and unpaused"):
        deadline = time.monotonic() + 240
        while True:
            try:
                api(f"{base}/api/v2/dags/{DAG_ID}", token, {"is_paused": False}, "PATCH")
                break
            except urllib.error.HTTPError as err:
                if time.monotonic() > deadline:
                    raise SmokeError(f"{DAG_ID} never appeared ({err.code})") from None
                time.sleep(2)
    conf = {"n_trials": n_trials, "trials_per_slot": 2}
    with timer.step(f"DAG run ({n_trials} trials, through the proxy)"):
        run = api(f"{base}/api/v2/dags/{DAG_ID}/dagRuns", token, {"logical_date": None, "conf": conf}, "POST")
        run_id = run["dag_run_id"]
        report["dag_run_id"] = run_id
        deadline = time.monotonic() + 1200
        state = run["state"]
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(3)
            for stopped in ("airflow-scheduler", "airflow-api-server", "automl-storage-proxy", "mlflow"):
                if stack.state(stopped)[0] != "running":
                    raise SmokeError(f"{stopped} stopped during the run:\n{stack.redact(stack.logs(stopped, 40))}")
            state = api(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}", token)["state"]
    report["dag_run_state"] = state
    quoted = urllib.parse.quote(run_id, safe="")
    tis = api(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances?limit=100", token)["task_instances"]
    report["tasks"] = [
        {"task_id": t["task_id"], "map_index": t["map_index"], "state": t["state"], "duration_s": t["duration"]}
        for t in tis
    ]
    for t in sorted(tis, key=lambda t: (t["start_date"] or "", t["map_index"])):
        slot = f"[{t['map_index']}]" if t["map_index"] >= 0 else ""
        print(f"    {t['task_id']}{slot}: {t['state']}, {t['duration'] or 0:.1f} s")
    if state != "success":
        failed = [t["task_id"] for t in tis if t["state"] not in ("success", "skipped")]
        raise SmokeError(f"DAG run {run_id} ended {state}; tasks not successful: {failed}\n" + scheduler_tail(stack))

    # the work was done: the study in PostgreSQL (read back through the proxy) and the MLflow parent run
    with timer.step("results checked (study through the proxy, MLflow)"):
        sys.path.insert(0, str(ROOT))
        from automl import tracking
        from automl.config import load_config
        from automl.pipeline import study_name_for
        from automl.study import open_study, progress

        config = load_config(STUDY_FILE)
        name = study_name_for(config.with_overrides(conf), run_id)
        report["study"] = name
        report["trials_finished"] = progress(open_study(config, name)).finished
        parent = tracking.find_parent_run(config, name)
        report["mlflow_parent_status"] = (
            api(f"http://127.0.0.1:{ports['mlflow']}/api/2.0/mlflow/runs/get?run_id={parent}")["run"]["info"]["status"]
            if parent
            else None
        )
        models = api(f"http://127.0.0.1:{ports['mlflow']}/api/2.0/mlflow/registered-models/search")
        report["registered_models"] = sorted(m["name"] for m in models.get("registered_models", []))
    if report["trials_finished"] != n_trials or report["mlflow_parent_status"] != "FINISHED":
        raise SmokeError(
            f"the run reported success but the study has {report['trials_finished']}/{n_trials} finished trials "
            f"and the MLflow parent run is {report['mlflow_parent_status']}"
        )


def scheduler_tail(stack: Stack) -> str:
    return "scheduler log (last 40 lines):\n" + stack.redact(stack.logs("airflow-scheduler", 40))


def check_images(services: dict[str, Any]) -> None:
    missing = []
    for image in sorted({s["image"] for s in services.values()}):
        if subprocess.run(["podman", "image", "exists", image], env=podman_env()).returncode != 0:
            missing.append(image)
    if missing:
        raise SmokeError(f"images not built under {IMAGES_DIR}: {missing} (run `make images` as root)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, help="write the summary as JSON to this file")
    parser.add_argument("--n-trials", type=int, default=4)
    parser.add_argument("--keep-on-failure", action="store_true", help="leave a failed stack up to inspect it")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("compose_smoke.py: run as root (podman with the storage of make images)", file=sys.stderr)
        return 2
    if not Path("/usr/lib/python3/dist-packages/podman_compose.py").exists():
        subprocess.run(["apt-get", "install", "-y", "-q", "podman-compose"], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip

    timer = Timer()
    report: dict[str, Any] = {"ok": False, "error": None}
    t_all = time.monotonic()
    before = host_state()
    tmp = Path(tempfile.mkdtemp(prefix="automl-compose-"))  # 0700, root's
    values = {name: os.environ.get(name) or secrets.token_urlsafe(32) for name in SECRET_NAMES}
    ports = {name: free_port() for name in ("postgres", "mlflow", "proxy", "airflow")}
    env = {**podman_env(), **values}
    # the study read-back below talks to the proxy as a client: token and CA from this process's environment
    os.environ.update(
        AUTOML_STORAGE=f"grpc://127.0.0.1:{ports['proxy']}",
        AUTOML_PROXY_TOKEN=values["AUTOML_PROXY_TOKEN"],
        AUTOML_PROXY_CA=str(tmp / "proxy.crt"),
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{ports['mlflow']}",
        AUTOML_HOME=str(tmp / "automl-home"),
    )
    stack: Stack | None = None
    failed = False
    try:
        print(f"compose smoke test: project {PROJECT}, ports {ports}", flush=True)
        with timer.step("prepare (TLS certificate, host-network compose file)"):
            make_tls(tmp)
            variant = host_network_variant(yaml.safe_load(COMPOSE_FILE.read_text()), ports, tmp)
            (tmp / "compose.yml").write_text(yaml.safe_dump(variant, sort_keys=False))
            stack = Stack(tmp / "compose.yml", env, list(values.values()))
            check_images(stack.services)
        with timer.step("podman-compose up --no-start (containers, volumes)"):
            stack.compose("up", "--no-build", "--no-start")
        for service in deps_order(stack.services):
            needs = stack.services[service].get("depends_on", {})
            with timer.step(f"start {service}" + (f" (after {', '.join(needs)})" if needs else "")):
                for dep, spec in needs.items():
                    stack.wait_for(dep, spec.get("condition", "service_started"), timeout=300)
                stack.start(service)
        with timer.step("every healthcheck passes"):
            for service, svc in stack.services.items():
                if svc.get("healthcheck"):
                    stack.wait_for(service, "service_healthy", timeout=300)
        run_demo(stack, ports, args.n_trials, timer, report)
        # no secret in any container's log
        leaked = [s for s in stack.services if any(v in stack.logs(s) for v in stack.secret_values)]
        report["secrets_in_logs"] = leaked
        if leaked:
            raise SmokeError(f"a secret appears in the logs of {leaked}")
        report["ok"] = True
    except Exception as err:  # reported, then torn down
        failed = True
        report["error"] = stack.redact(f"{type(err).__name__}: {err}") if stack else f"{type(err).__name__}: {err}"
        print(f"FAILED: {report['error']}", flush=True)
    finally:
        if stack is not None and not (failed and args.keep_on_failure):
            with timer.step("podman-compose down -v (containers, volumes)"):
                try:
                    stack.compose("down", "-v", "-t", "10", timeout=300)
                except SmokeError as err:
                    print(err, flush=True)
                # whatever down missed: the project's containers and volumes by their label
                label = f"label=io.podman.compose.project={PROJECT}"
                for ctr in podman("ps", "-a", "--filter", label, "--format", "{{.Names}}").split():
                    podman("rm", "-f", "-t", "5", ctr)
                for vol in podman("volume", "ls", "--filter", label, "--format", "{{.Name}}").split():
                    podman("volume", "rm", "-f", vol)
            report["compose_log"] = "\n".join(stack.compose_log)[-20000:]
        elif stack is not None:
            print(f"left up for inspection: {PROJECT}_* (podman-compose -p {PROJECT} -f {tmp}/compose.yml down -v)")
        if not (failed and args.keep_on_failure):
            shutil.rmtree(tmp, ignore_errors=True)
    after = host_state()
    report["left_behind"] = new_things(before, after)
    report["steps"] = timer.steps
    report["wall_s"] = round(time.monotonic() - t_all, 1)
    if report["left_behind"] and not (failed and args.keep_on_failure):
        report["ok"] = False
        print(f"FAILED: left behind: {report['left_behind']}")
    print(f"\ncompose smoke test {'passed' if report['ok'] else 'FAILED'} in {report['wall_s']:.0f} s:")
    for label, took in timer.steps:
        print(f"  {took:7.1f} s  {label}")
    if report.get("trials_finished") is not None:
        print(f"  study {report.get('study')}: {report['trials_finished']} trials finished; "
              f"MLflow parent run {report.get('mlflow_parent_status')}; models {report.get('registered_models')}")  # fmt: skip
    print(f"  left behind: {report['left_behind'] or 'nothing'}")
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
