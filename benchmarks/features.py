"""Feature-engineering benchmark: raw features vs DFS-generated + selected features.

    python -m benchmarks.features [--out benchmarks/results/features.json]

For each dataset (the relational mock-customer demo, breast_cancer, diabetes) the platform's
own stages run on the training split (``load_data`` -> ``generate_features`` ->
``select_features``, through the local runner that ``automl run`` uses); then a LightGBM model with default parameters is scored by the same
5-fold CV on (a) the raw columns and (b) the generated + selected features. Relational raw
columns are the target table's own columns. The last line printed is one JSON object:
{"bench": "features", "datasets": N, "relational_features_kept": K, "min_cv_ratio_features_vs_raw": R}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

DATASETS: list[dict[str, Any]] = [
    {"name": "mock_customer (relational)", "config": "dags/studies/mock_customer_heavy_buyer.yaml"},
    {
        "name": "breast_cancer",
        "config": {
            "name": "bench-bc",
            "dataset": {"source": "sklearn:breast_cancer", "target": "target"},
            "task": "classification",
            "metric": "roc_auc",
            "model_space": ["lightgbm"],
            "features": {
                "trans_primitives": ["add_numeric", "multiply_numeric", "divide_numeric"],
                "max_generated": 600,
                "max_features": 40,
            },
        },
    },
    {
        "name": "diabetes",
        "config": {
            "name": "bench-diabetes",
            "dataset": {"source": "sklearn:diabetes", "target": "target"},
            "task": "regression",
            "metric": "r2",
            "model_space": ["lightgbm"],
            "features": {
                "trans_primitives": ["add_numeric", "multiply_numeric", "divide_numeric"],
                "max_generated": 400,
                "max_features": 30,
            },
        },
    },
]


def cv_score(X: pd.DataFrame, y: pd.Series, task: str, seed: int = 0) -> float:
    import lightgbm as lgb
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    X = X.copy()
    for col in X.columns:
        if pd.api.types.is_datetime64_any_dtype(X[col]):
            X[col] = X[col].astype("int64") / 1e9
        elif not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("category")
    if task == "classification":
        model: Any = lgb.LGBMClassifier(random_state=seed, n_jobs=1, verbosity=-1)
        cv: Any = StratifiedKFold(5, shuffle=True, random_state=seed)
        scoring = "roc_auc"
    else:
        model = lgb.LGBMRegressor(random_state=seed, n_jobs=1, verbosity=-1)
        cv = KFold(5, shuffle=True, random_state=seed)
        scoring = "r2"
    return float(np.mean(cross_val_score(model, X, y, cv=cv, scoring=scoring)))


def run_dataset(spec: dict[str, Any]) -> dict[str, Any]:
    from automl.config import load_config, parse_config
    from automl.pipeline import GeneratedFeatures, LoadedData, LocalRunner, SelectedFeatures

    cfg = load_config(ROOT / spec["config"]) if isinstance(spec["config"], str) else parse_config(spec["config"])
    # the platform's own pipeline, up to the selected features
    outputs = LocalRunner(cfg, "bench", runner="benchmarks.features", until="select_features").run().outputs
    data, generated, selected = outputs["load_data"], outputs["generate_features"], outputs["select_features"]
    assert isinstance(data, LoadedData) and isinstance(generated, GeneratedFeatures)
    assert isinstance(selected, SelectedFeatures)
    report = json.loads(Path(selected.report).read_text())
    target = cfg.dataset.target
    train = pd.read_parquet(data.train)
    if cfg.dataset.relational:
        t = cfg.dataset.tables[str(cfg.dataset.target_table)]
        raw = train.drop(columns=[c for c in (target, t.index, cfg.dataset.cutoff_time) if c])
    else:
        raw = train.drop(columns=[target])
    feats = pd.read_parquet(selected.train)
    y = train[target]
    raw_cv = cv_score(raw, y, cfg.task)
    feat_cv = cv_score(feats.drop(columns=[target]), feats[target], cfg.task)
    return {
        "dataset": spec["name"],
        "metric": "roc_auc" if cfg.task == "classification" else "r2",
        "raw_columns": raw.shape[1],
        "generated": selected.n_generated,
        "kept": selected.n_selected,
        "cv_raw": raw_cv,
        "cv_features": feat_cv,
        "ratio": feat_cv / raw_cv if raw_cv > 0 else float("nan"),
        "generate_s": generated.seconds,
        "select_s": report["seconds"]["total"],
        "leaks_dropped": len(report["leaks"]),
        "relational": cfg.dataset.relational,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/features.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ["AUTOML_HOME"] = tempfile.mkdtemp(prefix="automl-bench-features-")
    import logging

    logging.getLogger("automl").setLevel(logging.WARNING)
    rows = []
    for spec in DATASETS:
        started = time.perf_counter()
        rows.append(run_dataset(spec))
        print(f"  {spec['name']}: {time.perf_counter() - started:.1f} s", flush=True)
    print(
        "\n| dataset | metric | raw columns | generated | kept | CV raw | CV generated+selected | ratio | "
        "generate s | select s | leaks dropped |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['metric']} | {r['raw_columns']} | {r['generated']} | {r['kept']} | "
            f"{r['cv_raw']:.4f} | {r['cv_features']:.4f} | {r['ratio']:.3f} | {r['generate_s']:.2f} | "
            f"{r['select_s']:.2f} | {r['leaks_dropped']} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")
    rel = next((r for r in rows if r["relational"]), None)
    print(
        json.dumps(
            {
                "bench": "features",
                "datasets": len(rows),
                "relational_features_kept": rel["kept"] if rel else 0,
                "min_cv_ratio_features_vs_raw": round(min(r["ratio"] for r in rows), 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
