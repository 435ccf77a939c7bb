"""`make ui` / `make ui-stop`: the Airflow UI (with scheduler, dag-processor, triggerer; LocalExecutor)
and the MLflow UI, on 127.0.0.1, over the same local state that `make demo` uses.

    python scripts/ui.py start [--airflow-port 8080] [--mlflow-port 5000]
                               [--worker-log-port 8793] [--trigger-log-port 8794] [--no-schedules]
    python scripts/ui.py stop
    python scripts/ui.py status

`airflow standalone`'s log servers bind all interfaces on ``[logging] worker_log_server_port`` (8793) and
``trigger_log_server_port`` (8794); ``--worker-log-port`` / ``--trigger-log-port`` (or the environment
variables ``AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT`` / ``AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT``)
move them, e.g. to free ports in a test. ``--no-schedules`` sets ``AUTOML_SCHEDULES=off``: every study
DAG runs only when triggered (unpausing a scheduled DAG would otherwise start its latest interval).

Both services are started in their own process groups; `stop` sends SIGINT to `airflow standalone`
(which then stops its components) and to MLflow's group, then SIGTERM, then SIGKILL to whatever
group is left.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    airflow_home = Path(args.airflow_home or os.environ.get("AIRFLOW_HOME") or ROOT / ".airflow").resolve()
    automl_home = Path(args.automl_home or os.environ.get("AUTOML_HOME") or ROOT / ".automl").resolve()
    return airflow_home, automl_home, airflow_home / "ui.json"


def service_env(args: argparse.Namespace, airflow_home: Path, automl_home: Path, dags: Path) -> dict[str, str]:
    env = dict(os.environ)
    airflow_port, mlflow_port = args.airflow_port, args.mlflow_port
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(airflow_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{airflow_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{airflow_port}/execution/",
            "AUTOML_HOME": str(automl_home),
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # standalone launches `airflow` by name
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # where the operator extra links and the parent run's back-link point
            "AUTOML_MLFLOW_UI_URL": f"http://127.0.0.1:{mlflow_port}",
            "AUTOML_AIRFLOW_UI_URL": f"http://127.0.0.1:{airflow_port}",
        }
    )
    if args.worker_log_port:
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(args.worker_log_port)
    if args.trigger_log_port:
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(args.trigger_log_port)
    if args.no_schedules:
        env["AUTOML_SCHEDULES"] = "off"
    return env


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 (a loopback URL we built)
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def start(args: argparse.Namespace) -> int:
    airflow_home, automl_home, state = paths(args)
    if state.exists():
        print(f"already started (see {state}); run `make ui-stop` first", file=sys.stderr)
        return 1
    airflow_home.mkdir(parents=True, exist_ok=True)
    automl_home.mkdir(parents=True, exist_ok=True)
    dags = Path(args.dags or ROOT / "dags").resolve()
    env = service_env(args, airflow_home, automl_home, dags)
    logs = airflow_home / "ui-logs"
    logs.mkdir(exist_ok=True)
    procs = {
        "airflow": subprocess.Popen(
            [str(VENV_BIN / "airflow"), "standalone"],
            env=env,
            start_new_session=True,
            stdout=open(logs / "airflow.log", "ab"),
            stderr=subprocess.STDOUT,
        ),
        "mlflow": subprocess.Popen(
            [
                str(VENV_BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{automl_home / 'mlflow.db'}",
            ],
            env=env,
            start_new_session=True,
            stdout=open(logs / "mlflow.log", "ab"),
            stderr=subprocess.STDOUT,
        ),
    }
    state.write_text(
        json.dumps(
            {name: p.pid for name, p in procs.items()}
            | {"airflow_port": args.airflow_port, "mlflow_port": args.mlflow_port}
        )
    )
    airflow_url, mlflow_url = f"http://127.0.0.1:{args.airflow_port}", f"http://127.0.0.1:{args.mlflow_port}"
    ok_a = _wait_http(f"{airflow_url}/api/v2/monitor/health", args.timeout)
    ok_m = _wait_http(f"{mlflow_url}/health", args.timeout)
    if not (ok_a and ok_m):
        print(f"services did not come up (airflow: {ok_a}, mlflow: {ok_m}); logs in {logs}", file=sys.stderr)
        stop(args)
        return 1
    login = airflow_home / "simple_auth_manager_passwords.json.generated"
    creds = json.loads(login.read_text()) if login.exists() else {}
    print(
        f"Airflow UI: {airflow_url}   login: {', '.join(f'{u} / {p}' for u, p in creds.items()) or 'see ' + str(login)}"
    )
    print(f"MLflow UI:  {mlflow_url}")
    print("stop with: make ui-stop")
    return 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies count as gone
    out = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return any(not s.startswith("Z") for s in out)


def stop(args: argparse.Namespace) -> int:
    _, _, state = paths(args)
    if not state.exists():
        print("nothing to stop")
        return 0
    pids = {k: v for k, v in json.loads(state.read_text()).items() if k in ("airflow", "mlflow")}
    # SIGINT to `airflow standalone` itself (not its group): it stops its components in order, in
    # seconds. SIGINT to the whole group makes each component stop on its own and the scheduler's
    # LocalExecutor workers and the triggerer linger; SIGTERM to the parent orphans them. MLflow's
    # server stops on SIGINT to its group. Then SIGTERM and SIGKILL to whatever group is left.
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        alive = [pid for pid in pids.values() if _group_alive(pid)]
        if not alive:
            break
        for name, pid in pids.items():
            if pid not in alive:
                continue
            try:
                if sig == signal.SIGINT and name == "airflow":
                    os.kill(pid, sig)
                else:
                    os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while time.time() < deadline and any(_group_alive(pid) for pid in alive):
            time.sleep(0.5)
    for pid in pids.values():  # reap our direct children if this process started them
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    left = [name for name, pid in pids.items() if _group_alive(pid)]
    state.unlink()
    if left:
        print(f"could not stop: {left}", file=sys.stderr)
        return 1
    print("stopped Airflow and MLflow")
    return 0


def status(args: argparse.Namespace) -> int:
    _, _, state = paths(args)
    if not state.exists():
        print("not running")
        return 1
    info = json.loads(state.read_text())
    for name in ("airflow", "mlflow"):
        print(f"{name}: pid group {info[name]} {'alive' if _group_alive(info[name]) else 'gone'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--airflow-home")
    parser.add_argument("--automl-home")
    parser.add_argument("--dags", help="dags folder (default: the project's dags/)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--worker-log-port", type=int, help="[logging] worker_log_server_port (default 8793)")
    parser.add_argument("--trigger-log-port", type=int, help="[logging] trigger_log_server_port (default 8794)")
    parser.add_argument("--no-schedules", action="store_true", help="study DAGs run only when triggered")
    args = parser.parse_args(argv)
    return {"start": start, "stop": stop, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
