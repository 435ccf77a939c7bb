"""Where a trial slot's CPU goes outside model fitting: one slot, run in this process, a fixed number of trials.

    python -m benchmarks.slot_cpu --dataset breast_cancer --trials 300 [--pools default|one] [--seed 5]

The platform's own stages prepare the study (load_data .. create_study through ``LocalRunner``, with
the quality benchmark's config for the dataset: the default families, the portfolio, ``ensemble.size``
10, a private SQLite storage and MLflow store), then :func:`automl.worker.run_slot` runs ``--trials``
trials here, without a time budget. Printed: the process's CPU (``resource.getrusage``), the slot
thread's (``time.thread_time``), the trials' fitting CPU (their ``fit_cpu_s``), the MLflow logging
thread's, and the CPU of the main calls on the trial's path (timed with ``time.thread_time`` around each
call; no profiler, whose own cost is several times the code's).

``--pools one`` limits the BLAS and OpenMP pools to one thread first, as every worker does
(:func:`automl.worker.one_thread_per_trial`); ``default`` leaves them at one thread per core, as
before. The last line is JSON.
"""

from __future__ import annotations

import argparse
import collections
import copy
import functools
import json
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _timer(acc: dict[str, float], calls: collections.Counter[str], owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` to add the slot thread's CPU inside it to ``acc[label]``."""
    f: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(f)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return f(*args, **kwargs)
        t = time.thread_time()
        try:
            return f(*args, **kwargs)
        finally:
            acc[label] += time.thread_time() - t
            calls[label] += 1

    setattr(owner, name, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slot_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="breast_cancer", help="a built-in dataset of benchmarks.quality")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--pools", choices=["default", "one"], default="one", help="BLAS/OpenMP threads")
    args = parser.parse_args(argv)

    import optuna
    from optuna.samplers import TPESampler

    import automl.worker as worker
    from automl.config import parse_config
    from automl.ensemble.store import OofStore
    from automl.pipeline import LocalRunner
    from automl.study import open_study
    from benchmarks.quality import BUILTIN, materialize
    from benchmarks.quality_runs import study_config

    home = Path(tempfile.mkdtemp(prefix="slot-cpu-"))
    os.environ["AUTOML_HOME"] = str(home)
    ds = materialize(copy.copy(BUILTIN[args.dataset]), home / "data")
    spec = {**ds.spec(), "seed": args.seed, "budget_s": 1, "cores": 1, "ensemble_size": 10}
    data = study_config(spec, "slot_cpu", home).model_dump()
    data["budget"].update({"n_trials": args.trials, "trials_per_slot": args.trials, "total_s": None})
    config = parse_config(data, source="benchmarks.slot_cpu")
    handle = LocalRunner(config, "slot-cpu", until="create_study").run().outputs["create_study"]
    X, y = worker.load_training_frame(handle.train, config.dataset.target)  # type: ignore[attr-defined]
    pools = worker.one_thread_per_trial() if args.pools == "one" else []

    acc: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()
    for owner, name, label in [
        (TPESampler, "sample_relative", "TPE sample_relative"),
        (TPESampler, "sample_independent", "TPE sample_independent"),
        (TPESampler, "infer_relative_search_space", "TPE infer_relative_search_space"),
        (optuna.Study, "ask", "Study.ask"),
        (optuna.Study, "tell", "Study.tell"),
        (optuna.Study, "get_trials", "Study.get_trials"),
        (OofStore, "keep", "OofStore.keep (out-of-fold predictions)"),
    ]:
        _timer(acc, calls, owner, name, label)
    logger_cpu: list[float] = []
    run_logger = worker.MlflowLogger._run

    def counted(self: Any) -> None:
        t = time.thread_time()
        run_logger(self)
        logger_cpu.append(time.thread_time() - t)

    worker.MlflowLogger._run = counted  # type: ignore[method-assign]

    cpu0, main0, wall0 = _cpu(), time.thread_time(), time.perf_counter()
    done = worker.run_slot(
        config,
        handle.study_name,  # type: ignore[attr-defined]
        0,
        X,
        y,
        handle.parent_run_id,  # type: ignore[attr-defined]
        train_path=handle.train,  # type: ignore[attr-defined]
    )
    cpu, main_cpu, wall = _cpu() - cpu0, time.thread_time() - main0, time.perf_counter() - wall0
    trials = open_study(config, handle.study_name).get_trials(deepcopy=False)  # type: ignore[attr-defined]
    fit = float(sum(t.user_attrs.get("fit_cpu_s", 0.0) for t in trials))
    n = max(1, len(done))
    mlflow_cpu = sum(logger_cpu)
    print(f"{args.dataset}, seed {args.seed}, {len(done)} trials, pools {args.pools} {pools}, wall {wall:.1f} s")
    print(
        f"process CPU {cpu:.1f} s = slot thread {main_cpu:.1f} s (fitting {fit:.1f} s) + other threads {cpu - main_cpu:.1f} s"
    )
    print(f"  (MLflow logging thread {mlflow_cpu:.1f} s)")
    print(
        f"outside fitting per trial: slot thread {1000 * (main_cpu - fit) / n:.0f} ms, other threads "
        f"{1000 * (cpu - main_cpu) / n:.0f} ms"
    )
    for label in sorted(acc, key=lambda k: -acc[k]):
        print(f"  {label:42s} {acc[label]:7.2f} s {calls[label]:6d} calls {1000 * acc[label] / n:7.1f} ms/trial")
    result = {
        "bench": "slot_cpu",
        "dataset": args.dataset,
        "seed": args.seed,
        "pools": args.pools,
        "trials": len(done),
        "cpu_s": round(cpu, 2),
        "slot_thread_cpu_s": round(main_cpu, 2),
        "fit_cpu_s": round(fit, 2),
        "other_threads_cpu_s": round(cpu - main_cpu, 2),
        "mlflow_thread_cpu_s": round(mlflow_cpu, 2),
        "overhead_ms_per_trial": round(1000 * (cpu - fit) / n, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
