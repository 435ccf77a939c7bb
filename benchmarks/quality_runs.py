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
- ``autogluon`` / ``autogluon_best``: ``autogluon.tabular.TabularPredictor`` with its default preset
  (``medium_quality``) / ``presets="best_quality"`` (bagged and stacked), ``time_limit`` = what is left of the
  budget (its fit includes its own final models and ensemble), the same cores.
- ``lgbm_default``: LightGBM with default parameters (the floor).

Every method splits the data with the platform's own ``validate`` + ``split_holdout`` and the
same seed, so the holdout rows are identical, and scores with ``automl.metrics``.

The clock is end to end and the same for every method: ``budget_s`` wall seconds from before the data
is read to a fitted final model. Ours gets it as ``budget.total_s`` (the platform's own end-to-end
budget: the clock starts in ``load_data``; the search ends early enough to leave ``final_share`` for
``retrain_best``). The baselines start their clock before reading the data; their search gets what is
left of ``budget_s`` less the same final share, then they fit their final model. Each row carries
``e2e_s`` (that wall time, measured) and the CPU accounting: ``cpu_s`` (all of the method's processes
and threads, ``resource.getrusage`` of the process and its children, from the clock's start to the
fitted final model), ``fit_cpu_s`` (CPU inside model fits and validation predictions) and
``overhead_cpu_s`` = the difference.

Best-CV values are not strictly comparable across methods: the Optuna baselines stop each fold at
its own best iteration (the usual hand-written loop), which reads slightly optimistic next to ours
(one round count for all folds, the best mean) and ours scores its generated + selected features.
The holdout score is the comparison that counts.
"""

from __future__ import annotations

import json
import os
import resource
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
#: the share of the end-to-end budget every method keeps for its final fit (ours: budget.final_share)
FINAL_SHARE = 0.15


def cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its waited-for children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """A method's end-to-end clock: wall and CPU seconds since it was made (before the data is read)."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.wall0, self.cpu0 = time.perf_counter(), cpu_seconds()

    def elapsed(self) -> float:
        return time.perf_counter() - self.wall0

    def search_left(self) -> float:
        """Seconds the search may take: the budget less what has run and the final fit's share."""
        return max(1.0, self.budget_s * (1.0 - FINAL_SHARE) - self.elapsed())

    def stop(self, fit_cpu_s: float) -> dict[str, float]:
        cpu = cpu_seconds() - self.cpu0
        return {"e2e_s": self.elapsed(), "cpu_s": cpu, "fit_cpu_s": fit_cpu_s, "overhead_cpu_s": cpu - fit_cpu_s}


def study_config(spec: dict[str, Any], name: str, home: Path | None = None) -> Any:
    """The platform config for this dataset and seed (ours runs it; the baselines take its split and folds)."""
    from automl.config import parse_config

    budget = spec["budget_s"]
    per_slot = 1000  # time-bound: the study ends when budget.total_s is spent, long before this many
    data: dict[str, Any] = {
        "name": name,
        "dataset": {"source": spec["source"], "target": spec["target"]},
        "task": spec["task"],
        "metric": spec["metric"],
        # no model_space: the platform's default families (LightGBM, random forest, the task's linear model)
        "seed": spec["seed"],
        "ensemble": {"size": int(spec.get("ensemble_size", 1))},
        "budget": {
            "n_trials": per_slot * spec["cores"],
            # end to end: from load_data's start (before the data is read) to the fitted final model
            "total_s": max(1, int(round(budget))),
            "final_share": FINAL_SHARE,
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
    """The platform's pipeline through its local runner (what ``automl run`` runs), up to the holdout score.

    The end-to-end budget is the platform's ``budget.total_s``; the run is timed from before
    ``LocalRunner.run`` (its clock starts in ``load_data``, before the data is read) to the end of
    ``retrain_best`` (the fitted final model or ensemble, MLflow sync included). ``evaluate_holdout`` and
    the best single trial's refit (to score the ensemble against it) run after the clock.
    """
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
    clock_before = time.time()
    result = runner.run()
    holdout, retrained, features = (
        result.holdout,
        result.outputs["retrain_best"],
        result.outputs["select_features"],
    )
    assert holdout is not None and isinstance(retrained, Retrained) and isinstance(features, SelectedFeatures)
    phases = result.phases
    names = list(phases)
    timed = names[: names.index("retrain_best") + 1]  # reading the data .. the fitted final model
    search = phases["run_trial"]
    study = open_study(config, study_name)
    trials = study.get_trials(deepcopy=False)
    finished = [tr for tr in trials if tr.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    budget_cut = [
        tr for tr in trials if tr.state == TrialState.PRUNED and "time budget" in str(tr.system_attrs.get(STOP_KEY, ""))
    ]
    pruned = sum(tr.state == TrialState.PRUNED for tr in trials) - len(budget_cut)
    train_s = float(sum(tr.user_attrs.get("train_seconds", 0.0) for tr in finished))
    trial_fit_cpu = float(sum(tr.user_attrs.get("fit_cpu_s", 0.0) for tr in trials))
    created_at = float(study.user_attrs["created_at"])
    clock_started_at = float(study.user_attrs["clock_started_at"])
    curve = best_curve(
        [
            (tr.datetime_complete.timestamp() - created_at, tr.value)
            for tr in trials
            if tr.state == TrialState.COMPLETE and tr.datetime_complete is not None and tr.value is not None
        ],
        config.metric_direction == "maximize",
    )
    cores = spec["cores"]
    starts = [tr.datetime_start.timestamp() for tr in trials if tr.datetime_start is not None]
    cpu = sum(phases[k].cpu_s for k in timed)  # the runner and every worker process it waited for
    fit_cpu = trial_fit_cpu + sum(phases[k].fit_cpu_s for k in timed)
    groups = {
        "features": ("load_data", "generate_features", "select_features"),
        "search": ("create_study", "run_trial", "check_search"),
        "final": ("retrain_best",),
    }
    row = {
        "runner": type(runner).__module__ + "." + type(runner).__name__,
        "holdout": float(holdout.holdout_score),
        "best_cv": float(retrained.best_cv),
        "e2e_s": sum(phases[k].wall_s for k in timed),
        "wall_s": sum(p.wall_s for p in phases.values()),
        "search_s": search.wall_s,
        "phases": {k: {"wall_s": v.wall_s, "cpu_s": v.cpu_s, "fit_cpu_s": v.fit_cpu_s} for k, v in phases.items()},
        "phase_groups_s": {g: sum(phases[k].wall_s for k in ks) for g, ks in groups.items()},
        "clock_started_at": clock_started_at,
        "clock_before_run": clock_before,
        "data_written_at": _train_mtime(result),
        "deadline_after_clock_s": float(study.user_attrs["deadline"]) - clock_started_at,
        # loading, features and worker start-up spent the search's share: only the first trials ran (late)
        "search_started_late": bool(starts) and min(starts) >= float(study.user_attrs["deadline"]),
        "trials": len(finished),
        "pruned": pruned,
        "budget_cut": len(budget_cut),
        "failed": sum(tr.state == TrialState.FAIL for tr in trials),
        "curve": curve,
        "features_s": sum(phases[k].wall_s for k in groups["features"]),
        "store_init_s": store_init_s,
        "n_features": features.n_selected,
        "n_generated": features.n_generated,
        # from the study's creation (its search starts) to the first trial's start: worker start-up
        "first_trial_s": (min(starts) - created_at) if starts else None,
        "sensor_passes": result.search.passes,
        "sensor_passes_raced": result.search.raced,
        "trial_train_s": train_s,
        "cpu_s": cpu,
        "fit_cpu_s": fit_cpu,
        "overhead_cpu_s": cpu - fit_cpu,
        "utilization": search.cpu_s / (search.wall_s * cores),
        "phase_cpu_s": search.cpu_s,
    }
    if config.ensemble.size > 1:
        row["single_holdout"] = _best_single_holdout(config, study, features)
    return row


def _train_mtime(result: Any) -> float:
    """When load_data wrote the training split (after it had read and validated the data)."""
    return Path(result.outputs["load_data"].train).stat().st_mtime


def _best_single_holdout(config: Any, study: Any, features: Any) -> float:
    """The best trial alone, refit on all training rows and scored on the same holdout (after the clock):
    what the ensemble is compared with."""
    from automl.families.space import prepare_frame
    from automl.metrics.scoring import score
    from automl.objective import fit_final

    train, hold = pd.read_parquet(features.train), pd.read_parquet(features.holdout)
    t = config.dataset.target
    model = fit_final(config, study.best_trial, train.drop(columns=[t]), train[t])
    return float(score(config.metric, model, prepare_frame(hold.drop(columns=[t])), hold[t]))


# ------------------------------------------------------------------ plain Optuna baselines
def _lgb_cv(
    params: dict[str, Any],
    folds: list[tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]],
    spec: dict[str, Any],
    classes: Any,
    max_rounds: int,
    early_stopping: int,
) -> tuple[float, int, float]:
    """Hand-written K-fold CV: per fold ``lgb.train`` with early stopping on the validation fold; returns the mean
    score, the mean best round count and the thread's CPU seconds in the fits and predictions (one thread per
    trial: ``num_threads=1``)."""
    import lightgbm as lgb

    from automl.families.lightgbm import LightGBMFamily
    from automl.metrics.scoring import score_predictions

    native = LightGBMFamily().native_params(params, spec["task"], 0 if classes is None else len(classes), spec["seed"])
    native["metric"] = early_stop_metric(spec["metric"], spec["task"], classes)
    scores, rounds, fit_cpu = [], [], 0.0
    for X_tr, y_tr, X_va, y_va in folds:
        t0 = time.thread_time()
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
        fit_cpu += time.thread_time() - t0
        rounds.append(booster.best_iteration or max_rounds)
    return float(np.mean(scores)), max(1, int(round(float(np.mean(rounds))))), fit_cpu


def run_optuna(spec: dict[str, Any], sampler_name: str) -> dict[str, Any]:
    import lightgbm as lgb
    import optuna

    from automl.families.lightgbm import LightGBMFamily
    from automl.metrics.scoring import score_predictions
    from automl.objective import cv_splitter

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    clock = Clock(spec["budget_s"])  # before the data is read
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
        value, rounds, fit_cpu = _lgb_cv(params, folds, spec, classes, b.max_rounds, b.early_stopping_rounds)
        trial.set_user_attr("fit_cpu_s", fit_cpu)
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
    study.optimize(objective, timeout=clock.search_left(), n_jobs=spec["cores"])
    search_s = time.perf_counter() - phase_wall0
    best = study.best_trial
    native = family.native_params(best.params, spec["task"], 0 if classes is None else len(classes), spec["seed"])
    native["num_threads"] = spec["cores"]
    t0 = time.process_time()  # all threads: the final fit uses every core, nothing else runs now
    model = lgb.train(native, lgb.Dataset(Xc, y), num_boost_round=int(best.user_attrs["best_rounds"]))
    final_fit_cpu = time.process_time() - t0
    trials = study.get_trials(deepcopy=False)
    timing = clock.stop(final_fit_cpu + sum(t.user_attrs.get("fit_cpu_s", 0.0) for t in trials))
    pred = np.asarray(model.predict(Xh))
    holdout = score_predictions(spec["metric"], yh, as_proba(pred) if classes is not None else pred, classes)
    from optuna.trial import TrialState

    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    return {
        **timing,
        "holdout": float(holdout),
        "best_cv": float(study.best_value),
        "wall_s": clock.elapsed(),
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
def _count_fit_cpu(cls: Any, names: tuple[str, ...]) -> list[float]:
    """Count the process CPU (all threads: the peers fit one model at a time with every core) inside ``cls``'s
    methods ``names`` (the outermost call only); the returned one-item list holds the running total."""
    import functools

    total, depth = [0.0], [0]

    def timed(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    total[0] += time.process_time() - t0

        return wrapper

    for name in names:
        setattr(cls, name, timed(getattr(cls, name)))
    return total


def _count_flaml_fit_cpu() -> list[float]:
    """CPU inside FLAML's estimator fits and predictions (``BaseEstimator._fit`` / ``predict`` / ``predict_proba``)."""
    from flaml.automl.model import BaseEstimator

    return _count_fit_cpu(BaseEstimator, ("_fit", "predict", "predict_proba"))


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

    clock = Clock(spec["budget_s"])  # before the data is read
    fit_cpu = _count_flaml_fit_cpu()
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
        time_budget=clock.search_left(),  # its best model is refit after this (retrain_full), inside our clock
        n_jobs=spec["cores"],
        eval_method="cv",
        split_type=cv_splitter(config),  # the same folds as every other method
        seed=spec["seed"],
        verbose=0,
        log_file_name="",
    )
    search_s = time.perf_counter() - t0
    timing = clock.stop(fit_cpu[0])
    if classes is not None:
        pred = automl.predict_proba(X_hold)
        holdout = score_predictions(spec["metric"], yh, pred, np.asarray(automl.classes_))
    else:
        holdout = score_predictions(spec["metric"], yh, automl.predict(X_hold))
    loss = float(automl.best_loss)
    best_cv = loss if config.metric_direction == "minimize" else 1.0 - loss  # FLAML minimizes 1 - score
    return {
        **timing,
        "holdout": float(holdout),
        "best_cv": best_cv,
        "wall_s": clock.elapsed(),
        "search_s": search_s,
        "trials": int(sum(automl._iter_per_learner.values())),
        "pruned": 0,
        "best_estimator": automl.best_estimator,
    }


# ------------------------------------------------------------------ AutoGluon
#: the benchmark's metrics by AutoGluon's names (multiclass ROC AUC: one-vs-rest, macro, as automl.metrics scores it)
AUTOGLUON_METRIC = {
    "roc_auc": "roc_auc",
    "accuracy": "accuracy",
    "rmse": "root_mean_squared_error",
    "mae": "mean_absolute_error",
    "r2": "r2",
    "log_loss": "log_loss",
}


def _count_autogluon_fit_cpu() -> list[float]:
    """CPU inside AutoGluon's model fits and predictions (``AbstractModel.fit`` / ``predict`` / ``predict_proba``)."""
    from autogluon.core.models import AbstractModel

    return _count_fit_cpu(AbstractModel, ("fit", "predict", "predict_proba"))


def run_autogluon(spec: dict[str, Any], presets: str | None) -> dict[str, Any]:
    from autogluon.tabular import TabularPredictor

    from automl.metrics.scoring import score_predictions

    clock = Clock(spec["budget_s"])  # before the data is read
    fit_cpu = _count_autogluon_fit_cpu()
    X_train, y_train, X_hold, y_hold, config = split(spec)
    y, yh, classes = encode_target(spec, y_train, y_hold)
    label = "__target__"
    train = X_train.assign(**{label: y})
    metric = AUTOGLUON_METRIC[spec["metric"]]
    problem = "regression" if classes is None else ("binary" if len(classes) == 2 else "multiclass")
    if metric == "roc_auc" and problem == "multiclass":
        metric = "roc_auc_ovr_macro"
    with tempfile.TemporaryDirectory(prefix="autogluon-", dir=spec["workdir"]) as path:
        predictor = TabularPredictor(label=label, problem_type=problem, eval_metric=metric, path=path, verbosity=0)
        t0 = time.perf_counter()
        predictor.fit(
            train,
            time_limit=max(1.0, spec["budget_s"] - clock.elapsed()),  # its final models are inside its fit
            presets=presets,
            num_cpus=spec["cores"],
            num_gpus=0,
        )
        search_s = time.perf_counter() - t0
        timing = clock.stop(fit_cpu[0])
        if classes is not None:
            proba = predictor.predict_proba(X_hold, as_multiclass=True)
            pred = proba[list(predictor.class_labels)].to_numpy()
            holdout = score_predictions(spec["metric"], yh, pred, np.asarray(predictor.class_labels))
        else:
            holdout = score_predictions(spec["metric"], yh, np.asarray(predictor.predict(X_hold)))
        board = predictor.leaderboard(silent=True)
        best = predictor.model_best
        val = board.loc[board["model"] == best, "score_val"]
        # AutoGluon's validation scores are "higher is better" (errors negated)
        best_cv = float(val.iloc[0]) if len(val) else float("nan")
        if config.metric_direction == "minimize":
            best_cv = -best_cv
    return {
        **timing,
        "holdout": float(holdout),
        "best_cv": best_cv,
        "wall_s": clock.elapsed(),
        "search_s": search_s,
        "trials": len(board),
        "pruned": 0,
        "best_estimator": str(best),
    }


# ------------------------------------------------------------------ LightGBM defaults (the floor)
def run_lgbm_default(spec: dict[str, Any]) -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.base import clone

    from automl.metrics.scoring import score
    from automl.objective import cv_splitter

    clock = Clock(spec["budget_s"])  # the floor: one CV and one fit, far inside the budget
    X_train, y_train, X_hold, y_hold, config = split(spec)
    Xc, Xh = categorical(X_train, X_hold)
    y, yh, _ = encode_target(spec, y_train, y_hold)
    cls = lgb.LGBMClassifier if spec["task"] == "classification" else lgb.LGBMRegressor
    model = cls(random_state=spec["seed"], n_jobs=spec["cores"], verbosity=-1)
    t0, t_cpu = time.perf_counter(), time.process_time()  # CV and fit: model work only
    cv = [
        score(spec["metric"], clone(model).fit(Xc.iloc[tr], y[tr]), Xc.iloc[va], y[va])
        for tr, va in cv_splitter(config).split(X_train, y_train)
    ]
    model.fit(Xc, y)
    fit_cpu = time.process_time() - t_cpu
    timing = clock.stop(fit_cpu)
    return {
        **timing,
        "holdout": float(score(spec["metric"], model, Xh, yh)),
        "best_cv": float(np.mean(cv)),
        "wall_s": clock.elapsed(),
        "search_s": time.perf_counter() - t0,
        "trials": 1,
        "pruned": 0,
    }


RUNNERS = {
    "ours": run_ours,
    "tpe": lambda spec: run_optuna(spec, "tpe"),
    "random": lambda spec: run_optuna(spec, "random"),
    "flaml": run_flaml,
    "autogluon": lambda spec: run_autogluon(spec, None),
    "autogluon_best": lambda spec: run_autogluon(spec, "best_quality"),
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
