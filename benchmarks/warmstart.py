"""Warm-start benchmark: cold vs warm studies through the platform's own MLflow knowledge base.

    python -m benchmarks.warmstart [--trials 25] [--history-trials 40] [--seeds 0 1 2]

1. History: a cold study on each of breast_cancer and wine (LightGBM, log_loss) is run and
   published to a private MLflow store exactly as ``retrain_best`` does (meta-features as tags,
   top configurations as an artifact).
2. Targets: a *related* dataset (breast_cancer, 85% of the rows resampled, 5% Gaussian noise on
   every feature) and an *unrelated* one (a synthetic ``make_classification`` problem). For each
   seed, a cold and a warm study with the same sampler seed and trial budget; the warm one is
   seeded by ``automl.meta.warm_start`` (nearest past studies by meta-features).

Printed per target and seed: trials needed to reach 99% of the cold study's final best
(log_loss: within 1% of it), best at 10 trials and at the full budget. The last line is
{"bench": "warmstart", "speedup_related": X, "worst_ratio_unrelated": Y}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd


def _config(name: str, seed: int, n_trials: int, warm: bool) -> Any:
    from automl.config import parse_config

    return parse_config(
        {
            "name": name,
            "dataset": {"source": "sklearn:breast_cancer", "target": "target"},
            "task": "classification",
            "metric": "log_loss",
            "model_space": ["lightgbm"],
            "sampler": "tpe",
            "seed": seed,
            "pruning": {"rule": "none"},
            "warm_start": {"enabled": warm, "k": 2, "configs_per_neighbour": 3},
            "budget": {
                "n_trials": n_trials,
                "trials_per_slot": n_trials,
                "cv_folds": 3,
                "max_rounds": 300,
                "report_every": 25,
                "early_stopping_rounds": 50,
            },
        }
    )


def run_study(name: str, frame: pd.DataFrame, seed: int, n_trials: int, warm: bool, publish: bool) -> dict[str, Any]:
    from mlflow.entities import RunTag

    from automl import tracking
    from automl.meta import meta_features, record_study, warm_start
    from automl.meta.knowledge import kb_tags
    from automl.study import create_or_open, open_study
    from automl.worker import run_slot

    cfg = _config(name, seed, n_trials, warm)
    X, y = frame.drop(columns=["target"]), frame["target"]
    meta = meta_features(frame, "target", "classification", seed)
    parent = tracking.start_parent_run(cfg, name, {}, {}, {})
    tracking.client(cfg).log_batch(parent, tags=[RunTag(k, v) for k, v in kb_tags(cfg, meta).items()])
    study = create_or_open(cfg, name)
    seeded = warm_start(cfg, study, meta, exclude_run=parent) if warm else []
    run_slot(cfg, name, 0, X, y)
    study = open_study(cfg, name)
    if publish:
        record_study(cfg, parent, study)
    values = [
        t.value if t.state == optuna.trial.TrialState.COMPLETE else np.inf
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    ]
    return {
        "values": values,
        "seeded": len(seeded),
        "sources": sorted({s["study"] for s in seeded}),
        "distance": min((s["distance"] for s in seeded), default=None),
    }


def best_curve(values: list[float]) -> list[float]:
    return list(np.minimum.accumulate(values))  # log_loss: lower is better


def trials_to(curve: list[float], target: float) -> int:
    for i, v in enumerate(curve, start=1):
        if v <= target:
            return i
    return len(curve) + 1


def datasets(seed: int = 0) -> dict[str, pd.DataFrame]:
    from sklearn.datasets import make_classification

    from automl.data import read_dataset

    rng = np.random.default_rng(seed)
    bc = read_dataset("sklearn:breast_cancer")
    related = bc.sample(frac=0.85, random_state=seed).reset_index(drop=True)
    feats = [c for c in related.columns if c != "target"]
    related[feats] = (
        related[feats] + rng.normal(0, 0.05, size=(len(related), len(feats))) * related[feats].std().to_numpy()
    )
    X, y = make_classification(
        n_samples=600, n_features=12, n_informative=4, n_redundant=2, flip_y=0.08, class_sep=0.8, random_state=7
    )
    unrelated = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(target=y)
    return {"related": related, "unrelated": unrelated}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--history-trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/results/warmstart.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ["AUTOML_HOME"] = tempfile.mkdtemp(prefix="automl-bench-warm-")  # a private MLflow + study store
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("AUTOML_STORAGE", None)
    import logging

    logging.getLogger("automl").setLevel(logging.WARNING)

    from automl.data import read_dataset

    for ds in ("breast_cancer", "wine"):
        run_study(f"history-{ds}", read_dataset(f"sklearn:{ds}"), 0, args.history_trials, warm=False, publish=True)
        print(f"  history study on {ds}: {args.history_trials} trials published", flush=True)

    rows = []
    targets = datasets()
    for name, frame in targets.items():
        for seed in args.seeds:
            cold = run_study(f"{name}-cold-{seed}", frame, seed, args.trials, warm=False, publish=False)
            warm = run_study(f"{name}-warm-{seed}", frame, seed, args.trials, warm=True, publish=False)
            cc, wc = best_curve(cold["values"]), best_curve(warm["values"])
            target = cc[-1] / 0.99  # within 1% of the cold final best (lower is better)
            row = {
                "target": name,
                "seed": seed,
                "cold_best": cc[-1],
                "warm_best": wc[-1],
                "cold_at_10": cc[9],
                "warm_at_10": wc[9],
                "cold_trials_to_99": trials_to(cc, target),
                "warm_trials_to_99": trials_to(wc, target),
                "seeded": warm["seeded"],
                "sources": warm["sources"],
                "nearest_distance": warm["distance"],
            }
            rows.append(row)
            print(f"  {name} seed {seed}: done", flush=True)

    print(
        "\n| target | seed | warm-start sources (distance) | seeded | trials to 99% cold | log_loss at 10 (cold / warm) "
        f"| at {args.trials} (cold / warm) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['target']} | {r['seed']} | {', '.join(r['sources'])} ({r['nearest_distance']}) | {r['seeded']} | "
            f"{r['cold_trials_to_99']} / {r['warm_trials_to_99']} | {r['cold_at_10']:.4f} / {r['warm_at_10']:.4f} | "
            f"{r['cold_best']:.4f} / {r['warm_best']:.4f} |"
        )
    related = [r for r in rows if r["target"] == "related"]
    unrelated = [r for r in rows if r["target"] == "unrelated"]
    speedup = float(np.mean([r["cold_trials_to_99"] / r["warm_trials_to_99"] for r in related]))
    worst = float(min(r["cold_best"] / r["warm_best"] for r in unrelated))  # log_loss: >1 means warm is better
    print(f"\nrelated: cold/warm trials to reach 99% of the cold best, mean over seeds = {speedup:.2f}x (goal >= 5x)")
    print(
        f"unrelated: worst warm/cold best-score ratio (higher is better) = {worst:.4f} (goal: no worse than cold "
        "within noise)"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"rows": rows, "speedup_related": speedup, "worst_ratio_unrelated": worst}, indent=2, default=str)
    )
    print(f"wrote {out}")
    print(
        json.dumps(
            {"bench": "warmstart", "speedup_related": round(speedup, 3), "worst_ratio_unrelated": round(worst, 4)}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
