"""Pruning benchmark: the same study three ways, compute spent vs best CV score.

    python -m benchmarks.pruning [--trials N] [--seeds 0 1] [--out benchmarks/results/pruning.json]

For each study (LightGBM on breast_cancer and wine, a torch MLP on digits) and seed:
- ``none``: no pruning;
- ``optuna_sha``: Optuna's default ``SuccessiveHalvingPruner()`` inside the trial (the product comparison:
  its own defaults, ``min_resource='auto'``);
- ``optuna_sha_matched``: Optuna's ``SuccessiveHalvingPruner`` with ours' first rung and reduction factor
  (the algorithm comparison: same rungs, so any gap is the rule, not the settings);
- ``ours``: the platform's central ASHA rule (``automl.pruning``), applied at every report
  exactly as the pruning sensor applies it (trials run one after another here, so the
  sensor's decision and the worker's own check coincide);
- ``none_reseeded`` (a control): no pruning, the same data folds, only the sampler's seed changed.
  Its "loss" is what search luck alone moves the best score by: any pruner that changes which
  trials the sampler learns from (all of them, once they stop a trial the sampler would have
  ranked among its best) draws from that same spread.

Same sampler seed, same trial budget and the same objective code as the platform's
workers (``automl.objective.evaluate_trial``). Compute = training steps (boosting rounds
x folds, or epochs x folds) summed over all trials. The headline is **CPU saved** (process CPU
seconds of the search, ``time.process_time``), not training steps: steps ignore the per-trial cost that
pruning does not remove. The last line printed is one JSON object: {"bench": "pruning", "cpu_saved": C,
"max_best_score_loss": L, "compute_saved": S, ...}.

"Best CV" is the best trial's value, and a trial's value is its best report (early stopping keeps
the best round / epoch): a maximum over many noisy estimates, so a search that finishes more trials
(no pruning) gets a higher one from selection alone. To tell that apart from a worse model, each
method's best configuration is also **re-scored**: refitted as the platform's retraining would
(``automl.objective.fit_final``, the stopping point its trial chose) on 5 fresh folds (another
shuffle, ``RESCORE_SEED``) and scored on them; "rescored loss" compares those.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sklearn.model_selection import KFold, StratifiedKFold

from automl.config import StudyConfig, parse_config
from automl.data import read_dataset
from automl.families.space import first_rung
from automl.metrics.scoring import score
from automl.objective import evaluate_trial, fit_final
from automl.pruning.control import SignalPruner, make_rule
from automl.samplers import make_sampler

STUDIES: list[dict[str, Any]] = [
    # min_resource None: the platform's default first rung (10 rounds = the first report; 30 // 4 = 7 epochs)
    {"dataset": "breast_cancer", "model": "lightgbm", "metric": "roc_auc", "min_resource": None},
    {"dataset": "wine", "model": "lightgbm", "metric": "roc_auc", "min_resource": None},
    {"dataset": "digits", "model": "torch_mlp", "metric": "accuracy", "min_resource": None},
]
METHODS = ("none", "optuna_sha", "optuna_sha_matched", "ours", "none_reseeded")
RESEED = 10_000  # none_reseeded: sampler seed offset (the folds keep the study's seed)
RESCORE_SEED, RESCORE_FOLDS = 1_000, 5


def study_config(
    spec: dict[str, Any], seed: int, n_trials: int, eta: int | None = None, rung_value: str = "current", grace: int = 1
) -> StudyConfig:
    # eta None: the platform's default reduction factor
    eta_field = {} if eta is None else {"reduction_factor": eta}
    return parse_config(
        {
            "name": f"bench-{spec['dataset']}",
            "dataset": {"source": f"sklearn:{spec['dataset']}", "target": "target"},
            "task": "classification",
            "metric": spec["metric"],
            "model_space": [spec["model"]],
            "sampler": "tpe",
            "seed": seed,
            "pruning": {
                "rule": "asha",
                "mode": "central",
                "min_resource": spec["min_resource"],
                **eta_field,
                "min_trials_at_rung": grace,
                "rung_value": rung_value,
            },
            "budget": {
                "n_trials": n_trials,
                "cv_folds": 3,
                "max_rounds": 300,
                "report_every": 10,
                "early_stopping_rounds": 50,
                "max_epochs": 30,
                "early_stopping_epochs": 8,
            },
        }
    )


def pruner_for(method: str, config: StudyConfig) -> optuna.pruners.BasePruner:
    if method in ("none", "none_reseeded"):
        return optuna.pruners.NopPruner()
    if method == "optuna_sha":
        return optuna.pruners.SuccessiveHalvingPruner()
    if method == "optuna_sha_matched":
        # Optuna's first rung is min_resource * eta**min_early_stopping_rate: rate 0 puts it on ours' first rung
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=first_rung(config), reduction_factor=config.pruning.reduction_factor, min_early_stopping_rate=0
        )
    return SignalPruner(make_rule(config))


def run_one(
    spec: dict[str, Any], method: str, seed: int, n_trials: int, eta: int | None, rung_value: str, grace: int = 1
) -> dict[str, Any]:
    config = study_config(spec, seed, n_trials, eta, rung_value, grace)
    assert config.dataset.source is not None
    frame = read_dataset(config.dataset.source)
    X, y = frame.drop(columns=["target"]), frame["target"]
    study = optuna.create_study(
        direction=config.metric_direction,
        sampler=make_sampler(config, seed_offset=RESEED if method == "none_reseeded" else 0),
        pruner=pruner_for(method, config),
    )
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n_trials):
        trial = study.ask()
        try:
            study.tell(trial, evaluate_trial(trial, config, X, y))
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    search_cpu = time.process_time() - cpu
    trials = study.get_trials(deepcopy=False)
    return {
        "dataset": spec["dataset"],
        "model": spec["model"],
        "metric": config.metric,
        "method": method,
        "seed": seed,
        "trials": n_trials,
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "train_steps": int(sum(t.user_attrs.get("train_steps", 0) for t in trials)),
        "best_cv": study.best_value,
        "best_trial": study.best_trial.number,
        "rescored": rescore(config, study.best_trial, X, y),
        "cpu_s": search_cpu,
        "wall_s": time.perf_counter() - wall,
    }


def rescore(config: StudyConfig, trial: optuna.trial.FrozenTrial, X: Any, y: Any) -> float:
    """The trial's configuration refitted as the final retraining would, scored on fresh folds."""
    cls = StratifiedKFold if config.task == "classification" else KFold
    folds = cls(n_splits=RESCORE_FOLDS, shuffle=True, random_state=RESCORE_SEED + config.seed)
    scores = [
        score(config.metric, fit_final(config, trial, X.iloc[tr], y.iloc[tr]), X.iloc[va], y.iloc[va])
        for tr, va in folds.split(X, y)
    ]
    return float(np.mean(scores))


def noise_floor(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per study with 2+ seeds: the unpruned best CV of each seed and the largest relative gap between two."""
    out = []
    for spec in STUDIES:
        best = [r["best_cv"] for r in rows if r["method"] == "none" and r["dataset"] == spec["dataset"]]
        if len(best) >= 2:
            out.append(
                {
                    "dataset": spec["dataset"],
                    "model": spec["model"],
                    "best": best,
                    "gap": (max(best) - min(best)) / abs(max(best)),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="benchmarks/results/pruning.json")
    parser.add_argument("--eta", type=int, default=None, help="ours: reduction factor (default: the platform's)")
    parser.add_argument(
        "--rung-value", default="current", choices=["current", "best"], help="ours: value judged at a rung"
    )
    parser.add_argument("--grace", type=int, default=1, help="ours: trials that must reach a rung before it judges")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--datasets", nargs="+", default=[s["dataset"] for s in STUDIES], choices=[s["dataset"] for s in STUDIES]
    )
    parser.add_argument(
        "--torch-first-rung", type=int, default=None, help="ours: first rung (epochs) of the torch study"
    )
    args = parser.parse_args(argv)
    if "none" not in args.methods:
        parser.error("--methods must include 'none' (the baseline)")
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    rows = []
    for seed in args.seeds:
        for spec in STUDIES:
            if spec["dataset"] not in args.datasets:
                continue
            if args.torch_first_rung and spec["model"].startswith("torch"):
                spec = {**spec, "min_resource": args.torch_first_rung}
            for method in args.methods:  # interleaved per study, so machine drift hits all methods alike
                rows.append(run_one(spec, method, seed, args.trials, args.eta, args.rung_value, args.grace))
                r = rows[-1]
                print(f"  done {r['dataset']}/{r['method']}/seed {seed}: {r['wall_s']:.1f} s", flush=True)

    methods = [m for m in METHODS if m in args.methods]
    summary = report(rows, methods)
    # the noise floor of "best score": the same unpruned search with another sampler seed lands this far apart
    floor = noise_floor(rows)
    if floor:
        print("\nunpruned best CV across seeds (same study, other sampler seed): the loss scale that is search luck")
        print("| dataset | model | best CV per seed | largest relative gap between seeds |")
        print("|---|---|---|---|")
        for f in floor:
            print(f"| {f['dataset']} | {f['model']} | {', '.join(f'{v:.5f}' for v in f['best'])} | {f['gap']:.3%} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": summary, "noise_floor": floor}, indent=2))
    print(f"wrote {out}")
    reported = "ours" if "ours" in summary else methods[-1]  # --methods without ours: say whose figures these are
    ours = summary[reported]
    print(
        json.dumps(
            {
                "bench": "pruning",
                "method": reported,
                "cpu_saved": round(ours["cpu_saved"], 4),
                "max_best_score_loss": round(ours["max_best_score_loss"], 5),
                "compute_saved": round(ours["compute_saved"], 4),
                "mean_best_score_loss": round(ours["mean_best_score_loss"], 5),
                "max_rescored_loss": round(ours["max_rescored_loss"], 5),
                "mean_rescored_loss": round(ours["mean_rescored_loss"], 5),
            }
        )
    )
    return 0


def report(rows: list[dict[str, Any]], methods: list[str]) -> dict[str, dict[str, float]]:
    """Print the per-run table and the per-method summary; returns the summary."""
    metrics = "/".join(sorted({s["metric"] for s in STUDIES}))
    print(
        f"\n| dataset | model | seed | method | trials | pruned | train steps | saved vs none | best CV ({metrics}) "
        "| loss vs none | rescored | rescored loss | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    baseline = {(b["dataset"], b["seed"]): b for b in rows if b["method"] == "none"}
    for r in rows:
        base = baseline[r["dataset"], r["seed"]]
        r["saved"] = 1.0 - r["train_steps"] / base["train_steps"]
        # all metrics here: higher is better
        r["loss"] = (base["best_cv"] - r["best_cv"]) / abs(base["best_cv"])
        r["rescored_loss"] = (base["rescored"] - r["rescored"]) / abs(base["rescored"])
        print(
            f"| {r['dataset']} | {r['model']} | {r['seed']} | {r['method']} | {r['trials']} | {r['pruned']} | "
            f"{r['train_steps']} | {r['saved']:.1%} | {r['best_cv']:.5f} | {r['loss']:+.3%} | "
            f"{r['rescored']:.5f} | {r['rescored_loss']:+.3%} | {r['cpu_s']:.1f} |"
        )
    summary: dict[str, dict[str, float]] = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        bases = [baseline[r["dataset"], r["seed"]] for r in mine]
        per_study = {s["dataset"]: [r for r in mine if r["dataset"] == s["dataset"]] for s in STUDIES}
        summary[m] = {
            "compute_saved": 1.0 - sum(r["train_steps"] for r in mine) / sum(b["train_steps"] for b in bases),
            "cpu_saved": 1.0 - sum(r["cpu_s"] for r in mine) / sum(b["cpu_s"] for b in bases),
            "max_best_score_loss": max(r["loss"] for r in mine),
            # per study, the loss averaged over seeds; the largest of those
            "mean_best_score_loss": max(float(np.mean([r["loss"] for r in rs])) for rs in per_study.values() if rs),
            "max_rescored_loss": max(r["rescored_loss"] for r in mine),
            "mean_rescored_loss": max(
                float(np.mean([r["rescored_loss"] for r in rs])) for rs in per_study.values() if rs
            ),
        }
    print(
        "\n| method | CPU saved (process CPU s, all studies) | compute saved (train steps) | largest best-CV loss "
        "| largest per-study mean best-CV loss | largest rescored loss | largest per-study mean rescored loss |"
    )
    print("|---|---|---|---|---|---|---|")
    for m in methods:
        v = summary[m]
        print(
            f"| {m} | {v['cpu_saved']:.1%} | {v['compute_saved']:.1%} | {v['max_best_score_loss']:+.3%} | "
            f"{v['mean_best_score_loss']:+.3%} | {v['max_rescored_loss']:+.3%} | {v['mean_rescored_loss']:+.3%} |"
        )
    print(
        "goal: ours saves >= 75% of CPU with the best score within 0.1% of no pruning, and beats optuna_sha_matched on both"
    )
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
