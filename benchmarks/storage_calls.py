"""Storage-call benchmark: CPU per call of Optuna's RDBStorage vs automl's FastRDBStorage.

    python -m benchmarks.storage_calls [--storages sqlite postgres] [--trials 50] [--repeats 200]

One process, no concurrency: a study with ``--trials`` finished trials and one running trial with a
parameter, a user attribute and 3 reports; then, per storage class, the process CPU time of
``get_trial``, ``set_trial_intermediate_value``, ``set_trial_user_attr``, ``get_all_trials`` (the raw
storage, no read cache) and one whole worker cycle through ``optuna.Study`` (ask, suggest, attribute,
3 reports, tell). Prints a table and writes benchmarks/results/storage_calls.json; the last line is
{"bench": "storage_calls", "cycle_ms_rdb": ..., "cycle_ms_fast": ..., "speedup": ...} for PostgreSQL
(SQLite where PostgreSQL was not measured).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from automl.storage import FastRDBStorage, compat

PG_URL = os.environ.get("AUTOML_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm: statement caches, connections
    t = time.process_time()
    for _ in range(repeats):
        call()
    return 1000.0 * (time.process_time() - t) / repeats


def measure(cls: type[optuna.storages.RDBStorage], url: str, trials: int, repeats: int) -> dict[str, float]:
    storage = cls(url)
    name = f"bench-calls-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage)
    try:
        for _ in range(trials):
            t = study.ask()
            study.tell(t, t.suggest_float("x", 0, 1))
        t = study.ask()
        t.suggest_float("x", 0, 1)
        t.set_user_attr("k", "v")
        for step in range(3):
            t.report(0.1 * step, step)
        tid, sid = compat.trial_id(t), compat.study_id(study)

        def cycle() -> None:
            c = study.ask()
            c.suggest_float("x", 0, 1)
            c.set_user_attr("k", 1)
            for step in range(3):
                c.report(0.1 * step, step)
            study.tell(c, 0.3)

        return {
            "get_trial": cpu_ms(lambda: storage.get_trial(tid), repeats),
            "set_intermediate": cpu_ms(lambda: storage.set_trial_intermediate_value(tid, 5, 0.3), repeats),
            "set_user_attr": cpu_ms(lambda: storage.set_trial_user_attr(tid, "k", "v2"), repeats),
            "get_all_trials": cpu_ms(lambda: storage.get_all_trials(sid, deepcopy=False), max(10, repeats // 4)),
            "cycle": cpu_ms(cycle, max(10, repeats // 4)),
        }
    finally:
        optuna.delete_study(study_name=name, storage=storage)
        storage.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage_calls", description=__doc__.splitlines()[0])
    parser.add_argument("--storages", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--trials", type=int, default=50, help="finished trials in the study before measuring")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.storages:
            url = f"sqlite:///{Path(tmp) / 'calls.db'}" if kind == "sqlite" else PG_URL
            for cls in (optuna.storages.RDBStorage, FastRDBStorage):
                rows.append({"storage": kind, "class": cls.__name__, **measure(cls, url, args.trials, args.repeats)})
    keys = ["get_trial", "set_intermediate", "set_user_attr", "get_all_trials", "cycle"]
    print(f"\nCPU ms per call, one process, study of {args.trials + 1} trials ({os.cpu_count()} cores)")
    print(f"| storage | class | {' | '.join(keys)} |")
    print(f"|---|---|{'---|' * len(keys)}")
    for r in rows:
        print(f"| {r['storage']} | {r['class']} | {' | '.join(f'{r[k]:.2f}' for k in keys)} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "storage_calls.json").write_text(json.dumps({"cores": os.cpu_count(), "rows": rows}, indent=2))
    kind = "postgres" if "postgres" in args.storages else "sqlite"
    rdb = next(r for r in rows if r["storage"] == kind and r["class"] == "RDBStorage")
    fast = next(r for r in rows if r["storage"] == kind and r["class"] == "FastRDBStorage")
    summary = {
        "bench": "storage_calls",
        "storage": kind,
        "cycle_ms_rdb": round(rdb["cycle"], 2),
        "cycle_ms_fast": round(fast["cycle"], 2),
        "speedup": round(rdb["cycle"] / fast["cycle"], 2),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
