"""Does the ensemble beat the best single trial on the holdout? (issue 20, item 2)

    python -m benchmarks.ensemble [--size 25] [--trials 40] [--seeds 0 1 2] [--datasets breast_cancer wine diabetes]

For each dataset and seed: one study through the local runner (what ``automl run`` runs, up to
``evaluate_holdout``) with ``ensemble.size`` = ``--size`` over LightGBM, random forest and a
linear model, a fixed number of trials; then, on the same study, the best trial alone is refit
on all training rows and scored on the same holdout. The comparison is paired: same trials, same
features, same holdout rows. Prints one row per run and a last-line JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

DATASETS = {
    "breast_cancer": ("classification", "roc_auc"),
    "wine": ("classification", "roc_auc"),
    "diabetes": ("regression", "rmse"),
}
FAMILIES = {
    "classification": ["lightgbm", "random_forest", "logistic_regression"],
    "regression": ["lightgbm", "random_forest", "ridge"],
}


def one_run(dataset: str, seed: int, size: int, trials: int, home: Path) -> dict[str, Any]:
    import pandas as pd

    from automl.config import parse_config
    from automl.metrics.scoring import score
    from automl.objective import fit_final
    from automl.pipeline import LocalRunner
    from automl.study import open_study

    task, metric = DATASETS[dataset]
    os.environ["AUTOML_HOME"] = str(home)
    config = parse_config(
        {
            "name": f"ens_{dataset}_s{seed}",
            "dataset": {"source": f"sklearn:{dataset}", "target": "target"},
            "task": task,
            "metric": metric,
            "model_space": FAMILIES[task],
            "sampler": "tpe",
            "seed": seed,
            "budget": {"n_trials": trials, "parallelism": 2, "trials_per_slot": (trials + 1) // 2},
            "warm_start": {"enabled": False},
            "ensemble": {"size": size},
            "storage": f"sqlite:///{home / 'optuna.db'}",
            "tracking_uri": f"sqlite:///{home / 'mlflow.db'}",
        },
        source="benchmarks.ensemble",
    )
    runner = LocalRunner(config, "bench", runner="benchmarks.ensemble", until="evaluate_holdout")
    result = runner.run()
    assert result.holdout is not None
    features = result.outputs["select_features"]
    retrain_s = result.phases["retrain_best"].wall_s
    study = open_study(config, runner.ctx.study_name)
    train, holdout = pd.read_parquet(features.train), pd.read_parquet(features.holdout)  # type: ignore[attr-defined]
    t = config.dataset.target
    started = time.perf_counter()
    single = fit_final(config, study.best_trial, train.drop(columns=[t]), train[t])
    single_s = time.perf_counter() - started
    from automl.families.space import prepare_frame

    single_holdout = score(metric, single, prepare_frame(holdout.drop(columns=[t])), holdout[t])
    members = (home / "runs" / runner.ctx.study_name / "oof").glob("*.npy")
    return {
        "dataset": dataset,
        "seed": seed,
        "metric": metric,
        "ensemble_holdout": float(result.holdout.holdout_score),
        "single_holdout": float(single_holdout),
        "candidates": len(list(members)),
        "retrain_s": round(retrain_s, 2),
        "single_refit_s": round(single_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=25)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="bench_ens_") as tmp:
                row = one_run(dataset, seed, args.size, args.trials, Path(tmp))
            better = row["ensemble_holdout"] > row["single_holdout"]
            if row["metric"] in ("rmse", "mae", "log_loss"):
                better = row["ensemble_holdout"] < row["single_holdout"]
            row["ensemble_better"] = better
            rows.append(row)
            print(
                f"{dataset:14s} seed {seed}  {row['metric']}: ensemble {row['ensemble_holdout']:.5f}  "
                f"single best {row['single_holdout']:.5f}  {'ENSEMBLE' if better else 'single'}  "
                f"(retrain {row['retrain_s']} s, single refit {row['single_refit_s']} s)",
                flush=True,
            )
    wins = sum(r["ensemble_better"] for r in rows)
    ties = sum(r["ensemble_holdout"] == r["single_holdout"] for r in rows)
    print(
        json.dumps(
            {
                "bench": "ensemble",
                "size": args.size,
                "trials": args.trials,
                "runs": len(rows),
                "ensemble_wins": wins,
                "ties": ties,
                "rows": rows,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
