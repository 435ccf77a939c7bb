"""One run of the quality benchmark: one method on one dataset with one seed, in its own process.

    python -m benchmarks.quality_runs SPEC.json RESULT.json

``benchmarks.quality`` starts this once per dataset x method x seed (so every method gets a
fresh interpreter and its CPU seconds can be read from the process), writes the spec and reads
the result row back. Methods:

- ``ours``: the platform's pipeline through its local runner (``automl.pipeline.LocalRunner``, what
  ``automl run`` runs): load_data, generate_features, select_features, create_study, the trial slots
  as ``python -m automl.worker`` processes beside the pruning pass, retrain_best, evaluate_holdout.
- ``tpe`` / ``random``: a hand-written Optuna study (``TPESampler()`` / ``RandomSampler()``,
  defaults, no pruning, ``n_jobs`` = cores) over the same LightGBM space
  (``automl.families.lightgbm.LightGBMFamily``), K-fold CV on the same folds with early stopping.
- ``flaml``: ``flaml.AutoML`` with its defaults, the same time budget, CV on the same folds.
- ``lgbm_default``: LightGBM with default parameters (the floor).

Every method splits the data with the platform's own ``validate`` + ``split_holdout`` and the
same seed, so the holdout rows are identical, and scores with ``automl.metrics``.

Best-CV values are not strictly comparable across methods: the Optuna baselines stop each fold at
its own best iteration (the usual hand-written loop), which reads slightly optimistic next to ours
(one round count for all folds, the best mean) and ours scores its generated + selected features.
The holdout score is the comparison that counts.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def early_stop_metric(metric: str, task: str, classes: Any) -> str:
    """LightGBM's own metric for early stopping on the validation fold (what a hand-written study uses)."""
    if task == "regression":
        return {"mae": "l1"}.get(metric, "rmse")
    if len(classes) > 2:
        return "multi_logloss"
    return "auc" if metric == "roc_auc" else "binary_logloss"


# ------------------------------------------------------------------ shared
def study_config(spec: dict[str, Any], name: str, home: Path | None = None) -> Any:
    """The platform config for this dataset and seed (ours runs it; the baselines take its split and folds)."""
    from automl.config import parse_config

    budget = spec["budget_s"]
    per_slot = 1000  # time-bound: the study ends when budget.timeout_s is spent, long before this many
    data: dict[str, Any] = {
        "name": name,
        "dataset": {"source": spec["source"], "target": spec["target"]},
        "task": spec["task"],
        "metric": spec["metric"],
        "model_space": ["lightgbm"],
        "seed": spec["seed"],
        "budget": {
            "n_trials": per_slot * spec["cores"],
            "timeout_s": max(1, int(round(budget))),
            "parallelism": spec["cores"],
            # one long-lived worker process per core: a slot runs trials until the budget is spent
            "trials_per_slot": per_slot,
        },
    }
    variant = spec.get("ours_config", {}) if name != "split" else {}  # the split stays the same for all
    for key, value in variant.items():  # a variant of ours (--ours-config)
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    if home is not None:  # a private, already-initialized store per run (no warm start from other runs)
        data["storage"] = f"sqlite:///{home / 'optuna.db'}"
        data["tracking_uri"] = f"sqlite:///{home / 'mlflow.db'}"
    return parse_config(data, source="benchmarks.quality")


def split(spec: dict[str, Any]) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series, Any]:
    """The platform's own validation and holdout split (identical rows for every method)."""
    from automl.data import read_dataset, split_holdout, validate

    config = study_config(spec, "split")
    frame = validate(read_dataset(spec["source"]), config)
    with tempfile.TemporaryDirectory() as tmp:
        s = split_holdout(frame, config, Path(tmp))
        train, holdout = pd.read_parquet(s.train_path), pd.read_parquet(s.holdout_path)
    t = spec["target"]
    return train.drop(columns=[t]), train[t], holdout.drop(columns=[t]), holdout[t], config


def categorical(X_train: pd.DataFrame, X_other: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Non-numeric columns as pandas categories (LightGBM's native handling), categories from training rows."""
    X_train, X_other = X_train.copy(), X_other.copy()
    for col in X_train.columns:
        if not pd.api.types.is_numeric_dtype(X_train[col]):
            cats = pd.Categorical(X_train[col].astype("string")).categories
            X_train[col] = pd.Categorical(X_train[col].astype("string"), categories=cats)
            X_other[col] = pd.Categorical(X_other[col].astype("string"), categories=cats)
    return X_train, X_other


def encode_target(spec: dict[str, Any], y_train: pd.Series, y_hold: pd.Series) -> tuple[Any, Any, Any]:
    if spec["task"] != "classification":
        return y_train.to_numpy(dtype=float), y_hold.to_numpy(dtype=float), None
    from sklearn.preprocessing import LabelEncoder

    enc = LabelEncoder().fit(y_train)
    return enc.transform(y_train), enc.transform(y_hold), np.arange(len(enc.classes_))


def as_proba(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred)
    return np.column_stack([1.0 - pred, pred]) if pred.ndim == 1 else pred


def best_curve(points: list[tuple[float, float]], maximize: bool) -> list[list[float]]:
    """(seconds since the search started, best value so far) at each improvement."""
    out: list[list[float]] = []
    for t, v in sorted(points):
        if not np.isfinite(v):
            continue
        if not out or (v > out[-1][1] if maximize else v < out[-1][1]):
            out.append([round(t, 3), float(v)])
    return out


# ------------------------------------------------------------------ ours
def run_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """The platform's pipeline through its local runner (what ``automl run`` runs), up to the holdout score."""
    from optuna.trial import TrialState

    from automl import tracking
    from automl.pipeline import LocalRunner, Retrained, SelectedFeatures
    from automl.pruning.control import STOP_KEY
    from automl.storage import get_storage
    from automl.study import open_study

    home = Path(spec["workdir"]) / f"ours_{spec['dataset']}_{spec['seed']}"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AUTOML_HOME"] = str(home)  # run folders; the workers inherit it
    name = f"quality_{spec['dataset']}_s{spec['seed']}"
    config = study_config(spec, name, home)
    # a running platform has its stores: create the MLflow and Optuna schemas before the clock starts
    t = time.perf_counter()
    tracking.experiment_id(config)
    get_storage(config.storage_url)
    store_init_s = time.perf_counter() - t

    runner = LocalRunner(config, spec.get("run_id", "bench"), runner="benchmarks.quality", until="evaluate_holdout")
    study_name = runner.ctx.study_name
    started = time.perf_counter()
    result = runner.run()
    wall = time.perf_counter() - started
    holdout, retrained, features = (
        result.holdout,
        result.outputs["retrain_best"],
        result.outputs["select_features"],
    )
    assert holdout is not None and isinstance(retrained, Retrained) and isinstance(features, SelectedFeatures)
    phases = result.phases
    search = phases["run_trial"]
    study = open_study(config, study_name)
    trials = study.get_trials(deepcopy=False)
    finished = [tr for tr in trials if tr.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    budget_cut = [
        tr for tr in trials if tr.state == TrialState.PRUNED and "time budget" in str(tr.system_attrs.get(STOP_KEY, ""))
    ]
    pruned = sum(tr.state == TrialState.PRUNED for tr in trials) - len(budget_cut)
    train_s = float(sum(tr.user_attrs.get("train_seconds", 0.0) for tr in finished))
    created_at = float(study.user_attrs["created_at"])
    curve = best_curve(
        [
            (tr.datetime_complete.timestamp() - created_at, tr.value)
            for tr in trials
            if tr.state == TrialState.COMPLETE and tr.datetime_complete is not None and tr.value is not None
        ],
        config.metric_direction == "maximize",
    )
    cores, par = spec["cores"], config.budget.parallelism
    starts = [tr.datetime_start.timestamp() for tr in trials if tr.datetime_start is not None]
    return {
        "runner": type(runner).__module__ + "." + type(runner).__name__,
        "holdout": float(holdout.holdout_score),
        "best_cv": float(retrained.best_cv),
        "wall_s": wall,
        "search_s": search.wall_s,
        "phases": {k: {"wall_s": v.wall_s, "cpu_s": v.cpu_s} for k, v in phases.items()},
        "trials": len(finished),
        "pruned": pruned,
        "budget_cut": len(budget_cut),
        "failed": sum(tr.state == TrialState.FAIL for tr in trials),
        "curve": curve,
        "features_s": sum(phases[k].wall_s for k in ("load_data", "generate_features", "select_features")),
        "store_init_s": store_init_s,
        "n_features": features.n_selected,
        "n_generated": features.n_generated,
        # from the study's creation (its budget clock starts) to the first trial's start: worker start-up
        "first_trial_s": (min(starts) - created_at) if starts else None,
        "sensor_passes": result.search.passes,
        "sensor_passes_raced": result.search.raced,
        "trial_train_s": train_s,
        # slot-seconds of the trial phase not spent training, per trial (worker start-up, ask/tell,
        # storage reads and writes, heartbeats, MLflow child runs, waiting)
        "overhead_ms_per_trial": 1000.0 * (par * search.wall_s - train_s) / max(1, len(finished)),
        "utilization": search.cpu_s / (search.wall_s * cores),
        "phase_cpu_s": search.cpu_s,
    }


# ------------------------------------------------------------------ plain Optuna baselines
def _lgb_cv(
    params: dict[str, Any],
    folds: list[tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]],
    spec: dict[str, Any],
    classes: Any,
    max_rounds: int,
    early_stopping: int,
) -> tuple[float, int]:
    """Hand-written K-fold CV: per fold ``lgb.train`` with early stopping on the validation fold."""
    import lightgbm as lgb

    from automl.families.lightgbm import LightGBMFamily
    from automl.metrics.scoring import score_predictions

    native = LightGBMFamily().native_params(params, spec["task"], 0 if classes is None else len(classes), spec["seed"])
    native["metric"] = early_stop_metric(spec["metric"], spec["task"], classes)
    scores, rounds = [], []
    for X_tr, y_tr, X_va, y_va in folds:
        dtrain = lgb.Dataset(X_tr, y_tr, free_raw_data=False)
        dvalid = lgb.Dataset(X_va, y_va, reference=dtrain)
        booster = lgb.train(
            native,
            dtrain,
            num_boost_round=max_rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
        )
        pred = np.asarray(booster.predict(X_va, num_iteration=booster.best_iteration))
        if classes is not None:
            pred = as_proba(pred)
        scores.append(score_predictions(spec["metric"], y_va, pred, classes))
        rounds.append(booster.best_iteration or max_rounds)
    return float(np.mean(scores)), max(1, int(round(float(np.mean(rounds)))))


def run_optuna(spec: dict[str, Any], sampler_name: str) -> dict[str, Any]:
    import lightgbm as lgb
    import optuna

    from automl.families.lightgbm import LightGBMFamily
    from automl.metrics.scoring import score_predictions
    from automl.objective import cv_splitter

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    X_train, y_train, X_hold, y_hold, config = split(spec)
    Xc, Xh = categorical(X_train, X_hold)
    y, yh, classes = encode_target(spec, y_train, y_hold)
    # the fold frames are cut once, before the search: trial threads only read them (a diamonds run
    # whose threads sliced one shared frame concurrently ended in a segmentation fault once)
    folds = [
        (Xc.iloc[tr].copy(), y[tr], Xc.iloc[va].copy(), y[va]) for tr, va in cv_splitter(config).split(X_train, y_train)
    ]
    b = config.budget
    family = LightGBMFamily()

    def objective(trial: optuna.Trial) -> float:
        t0 = time.perf_counter()
        params = family.suggest(trial, "")
        value, rounds = _lgb_cv(params, folds, spec, classes, b.max_rounds, b.early_stopping_rounds)
        trial.set_user_attr("best_rounds", rounds)
        trial.set_user_attr("train_seconds", time.perf_counter() - t0)
        return value

    sampler = (
        optuna.samplers.TPESampler(seed=spec["seed"])
        if sampler_name == "tpe"
        else optuna.samplers.RandomSampler(seed=spec["seed"])
    )
    study = optuna.create_study(direction=config.metric_direction, sampler=sampler)
    phase_t0, phase_wall0 = time.time(), time.perf_counter()
    study.optimize(objective, timeout=spec["budget_s"], n_jobs=spec["cores"])
    search_s = time.perf_counter() - phase_wall0
    best = study.best_trial
    native = family.native_params(best.params, spec["task"], 0 if classes is None else len(classes), spec["seed"])
    native["num_threads"] = spec["cores"]
    model = lgb.train(native, lgb.Dataset(Xc, y), num_boost_round=int(best.user_attrs["best_rounds"]))
    pred = np.asarray(model.predict(Xh))
    holdout = score_predictions(spec["metric"], yh, as_proba(pred) if classes is not None else pred, classes)
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    return {
        "holdout": float(holdout),
        "best_cv": float(study.best_value),
        "wall_s": time.perf_counter() - started,
        "search_s": search_s,
        "trials": len(done),
        "pruned": 0,
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "curve": best_curve(
            [
                (t.datetime_complete.timestamp() - phase_t0, t.value)
                for t in trials
                if t.state == TrialState.COMPLETE and t.datetime_complete is not None and t.value is not None
            ],
            config.metric_direction == "maximize",
        ),
        "trial_train_s": float(sum(t.user_attrs.get("train_seconds", 0.0) for t in done)),
    }


# ------------------------------------------------------------------ FLAML
FLAML_METRIC = {
    "roc_auc": "roc_auc",
    "accuracy": "accuracy",
    "rmse": "rmse",
    "mae": "mae",
    "r2": "r2",
    "log_loss": "log_loss",
}


def run_flaml(spec: dict[str, Any]) -> dict[str, Any]:
    from flaml import AutoML

    from automl.metrics.scoring import score_predictions
    from automl.objective import cv_splitter

    started = time.perf_counter()
    X_train, y_train, X_hold, y_hold, config = split(spec)
    y, yh, classes = encode_target(spec, y_train, y_hold)
    metric = FLAML_METRIC[spec["metric"]]
    if metric == "roc_auc" and classes is not None and len(classes) > 2:
        metric = "roc_auc_ovr"
    automl = AutoML()
    t0 = time.perf_counter()
    automl.fit(
        X_train,
        y,
        task=spec["task"],
        metric=metric,
        time_budget=spec["budget_s"],
        n_jobs=spec["cores"],
        eval_method="cv",
        split_type=cv_splitter(config),  # the same folds as every other method
        seed=spec["seed"],
        verbose=0,
        log_file_name="",
    )
    search_s = time.perf_counter() - t0
    if classes is not None:
        pred = automl.predict_proba(X_hold)
        holdout = score_predictions(spec["metric"], yh, pred, np.asarray(automl.classes_))
    else:
        holdout = score_predictions(spec["metric"], yh, automl.predict(X_hold))
    loss = float(automl.best_loss)
    best_cv = loss if config.metric_direction == "minimize" else 1.0 - loss  # FLAML minimizes 1 - score
    return {
        "holdout": float(holdout),
        "best_cv": best_cv,
        "wall_s": time.perf_counter() - started,
        "search_s": search_s,
        "trials": int(sum(automl._iter_per_learner.values())),
        "pruned": 0,
        "best_estimator": automl.best_estimator,
    }


# ------------------------------------------------------------------ LightGBM defaults (the floor)
def run_lgbm_default(spec: dict[str, Any]) -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.base import clone

    from automl.metrics.scoring import score
    from automl.objective import cv_splitter

    started = time.perf_counter()
    X_train, y_train, X_hold, y_hold, config = split(spec)
    Xc, Xh = categorical(X_train, X_hold)
    y, yh, _ = encode_target(spec, y_train, y_hold)
    cls = lgb.LGBMClassifier if spec["task"] == "classification" else lgb.LGBMRegressor
    model = cls(random_state=spec["seed"], n_jobs=spec["cores"], verbosity=-1)
    t0 = time.perf_counter()
    cv = [
        score(spec["metric"], clone(model).fit(Xc.iloc[tr], y[tr]), Xc.iloc[va], y[va])
        for tr, va in cv_splitter(config).split(X_train, y_train)
    ]
    model.fit(Xc, y)
    return {
        "holdout": float(score(spec["metric"], model, Xh, yh)),
        "best_cv": float(np.mean(cv)),
        "wall_s": time.perf_counter() - started,
        "search_s": time.perf_counter() - t0,
        "trials": 1,
        "pruned": 0,
    }


RUNNERS = {
    "ours": run_ours,
    "tpe": lambda spec: run_optuna(spec, "tpe"),
    "random": lambda spec: run_optuna(spec, "random"),
    "flaml": run_flaml,
    "lgbm_default": run_lgbm_default,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    warnings.filterwarnings("ignore")
    import logging

    logging.basicConfig(level=logging.WARNING)
    row = {k: spec[k] for k in ("dataset", "method", "seed", "metric", "budget_s")}
    row.update(RUNNERS[spec["method"]](spec))
    Path(args[1]).write_text(json.dumps(row, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
