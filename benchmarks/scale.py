"""Scale benchmark: the control plane under N concurrent workers, PostgreSQL directly vs the gRPC proxy.

    python -m benchmarks.scale [--workers 10 100 1000] [--storages postgres proxy] [--trials-per-worker K]

Each simulated worker is a thread with its own storage client (for the proxy: its own gRPC
channel to ``python -m automl.storage.proxy``, started here as a subprocess) and runs, K times:
ask (+ one suggested parameter) -> tag the trial with its worker key -> ``--reports`` intermediate
reports -> tell, with a trivial objective, so only the study storage is measured. The threads are
spread over ``--processes`` processes (a 2-core machine cannot run 1,000 Python processes).

PostgreSQL directly cannot give each of 1,000 workers its own connection: the server allows
``max_connections`` (100 here, shared with other users). Each process therefore shares one
bounded pool (``--pg-connections`` in all); workers queue for a connection. Through the proxy,
the workers hold gRPC channels and only the proxy's pool (``--proxy-threads``) reaches PostgreSQL.

Printed per storage and N: trials told per second (from the common start to the last tell),
p50/p99 latency of ask and tell, errors, and the check: trials in the storage == trials asked, every
worker key exactly once, every told trial COMPLETE (lost = asked but missing or not complete,
duplicates = extra trials or a key seen twice). Studies get unique names and are deleted afterwards.
JSON goes to benchmarks/results/scale.json; the last line is
{"bench": "scale", "max_workers": N, "trials_per_s_proxy": T, "errors": E, "lost": L, "duplicates": D, ...}
for the largest N (errors/lost/duplicates of the proxy run; the direct run's as postgres_*).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

PG_URL = os.environ.get("AUTOML_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).resolve().parent / "results"


def _quiet() -> None:
    import optuna

    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _storage_for(kind: str, url: str, pool: int) -> Any:
    """One storage client: the proxy client (one per worker) or a shared bounded PostgreSQL pool."""
    import optuna

    from automl.storage import get_storage

    if kind == "proxy":
        return get_storage(url, connect_timeout_s=60)
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"pool_size": pool, "max_overflow": 0, "pool_timeout": 300, "pool_pre_ping": True}
    )


def _worker_process(
    kind: str,
    url: str,
    study_name: str,
    worker_ids: list[int],
    k: int,
    reports: int,
    pool: int,
    ready: Any,
    go: Any,
    out: Any,
    time_limit: float,
) -> None:
    """Host ``len(worker_ids)`` simulated workers as threads; send their measurements to ``out``."""
    _quiet()
    import optuna

    shared = _storage_for(kind, url, pool) if kind == "postgres" else None
    ask_ms: list[float] = []
    tell_ms: list[float] = []
    errors: list[str] = []
    asked: list[str] = []
    told: list[str] = []
    last_end = [0.0]
    lock = threading.Lock()
    studies: dict[int, Any] = {}

    def setup(wid: int) -> None:
        storage = shared if shared is not None else _storage_for(kind, url, pool)
        studies[wid] = optuna.load_study(
            study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=wid)
        )

    def work(wid: int) -> None:
        study = studies[wid]
        go.wait()
        stop_at = time.time() + time_limit
        for j in range(k):
            if time.time() > stop_at:
                break
            key = f"{wid}:{j}"
            try:
                t0 = time.perf_counter()
                trial = study.ask()
                x = trial.suggest_float("x", 0.0, 1.0)
                t1 = time.perf_counter()
                with lock:
                    ask_ms.append((t1 - t0) * 1000)
                    asked.append(key)
                trial.set_user_attr("worker_key", key)
                for step in range(reports):
                    trial.report(x * (step + 1), step)
                t2 = time.perf_counter()
                study.tell(trial, x)
                t3 = time.perf_counter()
                with lock:
                    tell_ms.append((t3 - t2) * 1000)
                    told.append(key)
                    last_end[0] = max(last_end[0], time.time())
            except Exception as err:  # counted and reported, never hidden
                cause = err.__cause__ or err.__context__
                why = f" <- {type(cause).__name__}: {str(cause).splitlines()[0][:200]}" if cause else ""
                with lock:
                    errors.append(f"{type(err).__name__}: {str(err)[:120]}{why}")

    setup_threads = [threading.Thread(target=setup, args=(w,)) for w in worker_ids]
    for t in setup_threads:
        t.start()
    for t in setup_threads:
        t.join()
    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in worker_ids]
    for t in threads:
        t.start()
    ready.put(len(studies))
    for t in threads:
        t.join()
    out.put(
        {
            "ask_ms": ask_ms,
            "tell_ms": tell_ms,
            "errors": errors,
            "asked": asked,
            "told": told,
            "last_end": last_end[0],
        }
    )


def _check(study_name: str, asked: list[str], told: list[str]) -> dict[str, int]:
    """Compare the storage with what the workers saw: nothing lost, nothing doubled."""
    import optuna
    from optuna.trial import TrialState

    from automl.storage import get_storage

    trials = optuna.load_study(study_name=study_name, storage=get_storage(PG_URL)).get_trials(deepcopy=False)
    keys = Counter(t.user_attrs.get("worker_key") for t in trials)
    by_key = {t.user_attrs.get("worker_key"): t for t in trials}
    numbers = [t.number for t in trials]
    lost = sum(1 for key in asked if key not in keys) + sum(
        1 for key in told if key in by_key and by_key[key].state != TrialState.COMPLETE
    )
    duplicates = (len(numbers) - len(set(numbers))) + sum(n - 1 for key, n in keys.items() if key is not None and n > 1)
    # created in the storage, but the ask raised, so no worker got it (it stays RUNNING; a heartbeat
    # check would fail it): not a lost result, but the storage no longer holds exactly what was asked
    orphans = keys.get(None, 0)
    return {
        "orphans": orphans,
        "trials_in_storage": len(trials),
        "asked": len(asked),
        "told": len(told),
        "lost": lost,
        "duplicates": duplicates,
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
    }


def run_case(kind: str, url: str, n: int, k: int, reports: int, processes: int, pool_total: int) -> dict[str, Any]:
    import optuna

    from automl.storage import get_storage

    study_name = f"bench-scale-{kind}-{n}-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=study_name, storage=get_storage(PG_URL), direction="minimize")
    procs_n = max(1, min(processes, n))
    pool = max(1, pool_total // procs_n)
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    ids = [list(range(n))[i::procs_n] for i in range(procs_n)]
    time_limit = 300.0
    procs = [
        ctx.Process(
            target=_worker_process,
            args=(kind, url, study_name, part, k, reports, pool, ready, go, out, time_limit),
        )
        for part in ids
    ]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=600)
        t0 = time.time()
        go.set()
        results = [out.get(timeout=time_limit + 300) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        ask = [x for r in results for x in r["ask_ms"]]
        tell = [x for r in results for x in r["tell_ms"]]
        errors = [e for r in results for e in r["errors"]]
        asked = [a for r in results for a in r["asked"]]
        told = [a for r in results for a in r["told"]]
        elapsed = max(r["last_end"] for r in results) - t0 if told else float("nan")
        check = _check(study_name, asked, told)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        optuna.delete_study(study_name=study_name, storage=get_storage(PG_URL))

    def pct(xs: list[float], q: float) -> float:
        return float(np.percentile(xs, q)) if xs else float("nan")

    return {
        "storage": kind,
        "workers": n,
        "trials_per_worker": k,
        "reports": reports,
        "processes": procs_n,
        "db_connections": pool * procs_n if kind == "postgres" else None,
        "seconds": elapsed,
        "trials_per_s": len(told) / elapsed if told else 0.0,
        "ask_p50_ms": pct(ask, 50),
        "ask_p99_ms": pct(ask, 99),
        "tell_p50_ms": pct(tell, 50),
        "tell_p99_ms": pct(tell, 99),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        **check,
        "count_ok": check["trials_in_storage"] == check["asked"]
        and check["lost"] == 0
        and check["duplicates"] == 0
        and check["orphans"] == 0,
    }


def start_proxy(threads: int, processes: int) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    os.environ.setdefault("AUTOML_PROXY_TOKEN", secrets.token_hex(16))  # the proxy, this process and workers
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl.storage.proxy", "--port", str(port), "--threads", str(threads)]
        + ["--processes", str(processes)],
        env={**os.environ, "AUTOML_PROXY_STORAGE": PG_URL},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"grpc://127.0.0.1:{port}"
    from automl.storage import get_storage

    get_storage(url, connect_timeout_s=60)  # waits until it serves
    return proc, url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--storages", nargs="+", default=["postgres", "proxy"], choices=["postgres", "proxy"])
    parser.add_argument("--trials-per-worker", type=int, default=None, help="default: enough for ~300 trials, >= 2")
    parser.add_argument("--reports", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4, help="processes hosting the worker threads")
    parser.add_argument("--pg-connections", type=int, default=40, help="direct PostgreSQL: connections in all")
    parser.add_argument("--proxy-threads", type=int, default=16, help="threads (= connections) per proxy process")
    parser.add_argument("--proxy-url", default=None, help="measure a running proxy (grpc://host:port) instead")
    parser.add_argument("--proxy-processes", type=int, default=1, help="proxy server processes on the one port")
    args = parser.parse_args(argv)
    _quiet()
    rows: list[dict[str, Any]] = []
    for kind in args.storages:
        proxy = None
        url = PG_URL
        if kind == "proxy" and args.proxy_url:
            url = args.proxy_url
        elif kind == "proxy":
            proxy, url = start_proxy(args.proxy_threads, args.proxy_processes)
        try:
            for n in args.workers:
                k = args.trials_per_worker or max(2, -(-300 // n))
                row = run_case(kind, url, n, k, args.reports, args.processes, args.pg_connections)
                rows.append(row)
                print(
                    f"  {kind:<8} N={n:<5} {row['trials_per_s']:7.1f} trials/s  errors {row['errors']}  "
                    f"lost {row['lost']}  duplicates {row['duplicates']}",
                    flush=True,
                )
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(timeout=30)
    cores = os.cpu_count()
    print(f"\nscale benchmark on {cores} cores: ask -> tag -> {args.reports} reports -> tell, trivial objective")
    head = (
        f"{'storage':<9}{'N':>6}{'told':>7}{'s':>7}{'told/s':>8}{'ask p50':>9}{'ask p99':>9}"
        f"{'tell p50':>9}{'tell p99':>9}{'errors':>7}{'lost':>5}{'dup':>4}{'orphan':>7}  storage==asked"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['storage']:<9}{r['workers']:>6}{r['told']:>7}{r['seconds']:>7.1f}{r['trials_per_s']:>8.1f}"
            f"{r['ask_p50_ms']:>9.0f}{r['ask_p99_ms']:>9.0f}{r['tell_p50_ms']:>9.0f}{r['tell_p99_ms']:>9.0f}"
            f"{r['errors']:>7}{r['lost']:>5}{r['duplicates']:>4}{r['orphans']:>7}  {'yes' if r['count_ok'] else 'NO'}"
        )
    print("(latencies in ms; direct PostgreSQL shares", args.pg_connections, "connections among all workers)")
    for r in rows:
        if r["error_examples"]:
            print(f"errors {r['storage']} N={r['workers']}: {r['error_examples']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps({"cores": cores, "rows": rows}, indent=2))
    biggest = max(args.workers)
    proxy_row = next((r for r in rows if r["storage"] == "proxy" and r["workers"] == biggest), None)
    pg_row = next((r for r in rows if r["storage"] == "postgres" and r["workers"] == biggest), None)
    summary: dict[str, Any] = {"bench": "scale", "max_workers": biggest, "cores": cores}
    if proxy_row:  # the keys describe the proxy run
        summary |= {
            "trials_per_s_proxy": round(proxy_row["trials_per_s"], 1),
            "errors": proxy_row["errors"],
            "lost": proxy_row["lost"],
            "duplicates": proxy_row["duplicates"] + proxy_row["orphans"],
        }
    if pg_row:
        summary |= {
            "trials_per_s_postgres": round(pg_row["trials_per_s"], 1),
            "postgres_errors": pg_row["errors"],
            "postgres_lost": pg_row["lost"],
            "postgres_duplicates": pg_row["duplicates"] + pg_row["orphans"],
        }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
