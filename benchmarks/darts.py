"""DARTS vs sampled architecture search on digits (image and sequence forms), same space, same limits.

    python -m benchmarks.darts [--seeds 5 6 7 8 9] [--trials 16] [--max-epochs E] [--cv-folds K] [--workers 2]
                               [--out benchmarks/results/darts.json]

The space is torch_hybrid (conv 3 / conv 5 / self-attention / skip per position); the studies are
``dags/studies/nas_digits_darts.yaml`` (DARTS) and ``nas_digits_pareto.yaml`` with model_space
[torch_hybrid] (sampled: NSGA-II and MO-TPE, MO-ASHA pruning as the DAG runs it), all with the
constraints latency_ms <= 20 and memory_mb <= 8 (batch 256). Every method cross-validates as the
studies do (3 folds, at most 12 epochs, early stopping after 4; ``--cv-folds`` / ``--max-epochs``
change it for all); the sampled searches run ``--trials`` trials (default 16, the study's n_trials); digits is split 80/20 (stratified, per seed) into training rows and
a holdout. Per seed and form:

- ``darts``: the supernet (``nas`` block of the DARTS study) on the training rows, then the derived
  architecture cross-validated as the study's trial (automl.objective.evaluate_darts_trial);
- ``nsga2`` / ``motpe``: ``--trials`` trials of the sampler; the pick (best CV accuracy among the
  feasible trials, automl.multiobjective.study.pick).

Each method's chosen architecture is then retrained on all training rows (automl.objective.fit_final,
the retrain_best path) and scored on the holdout; its latency and memory are measured on the retrained
model (automl.measure). Compute of the search: epochs x samples (supernet: epochs x rows; trials:
epochs x fold-training rows, summed), and CPU seconds (resource.getrusage, self + children) of the
search alone. Jobs run in ``--workers`` processes (each job single-threaded).

Summary: ``accuracy_best_sampled`` takes, per seed and form, the better holdout accuracy of the two
samplers (the bar DARTS is held to); ``compute_ratio`` = DARTS' CPU seconds / one sampled search's
(mean of NSGA-II and MO-TPE), over all seeds and forms; ``constraints_met``: every DARTS model meets
the limits as measured after retraining. The last line printed is one JSON object:
{"bench": "darts", "accuracy_darts": A, "accuracy_best_sampled": B, "compute_ratio": R, "constraints_met": C}.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState
from sklearn.model_selection import train_test_split

from automl.config import StudyConfig, parse_config
from automl.data import read_dataset
from automl.families.cv import measure_batch
from automl.families.space import get_family
from automl.multiobjective.study import constraints_by_name, pick
from automl.objective import evaluate_darts_trial, evaluate_trial, fit_final
from automl.samplers import make_sampler
from automl.worker import record_constraints

ROOT = Path(__file__).resolve().parents[1]
FORMS = ("image", "sequence")
METHODS = ("darts", "nsga2", "motpe")


def bench_config(method: str, form: str, seed: int, args: argparse.Namespace) -> StudyConfig:
    study = "nas_digits_darts.yaml" if method == "darts" else "nas_digits_pareto.yaml"
    data = yaml.safe_load((ROOT / "dags" / "studies" / study).read_text())
    data.update(seed=seed, model_space=["torch_hybrid"])
    if method != "darts":
        data["sampler"] = "nsga2" if method == "nsga2" else "tpe"
        data["multi_objective"]["population_size"] = max(2, args.trials // 2)
    if form == "sequence":
        data["dataset"].pop("image_shape", None)
        data["dataset"]["sequence_shape"] = [8, 8]
    data["budget"]["n_trials"] = args.trials
    for key in ("max_epochs", "cv_folds"):  # default: the studies' own (both 12 epochs, 3 folds)
        if getattr(args, key) is not None:
            data["budget"][key] = getattr(args, key)
    data["multi_objective"]["latency_repeats"] = 7
    return parse_config(data, source="benchmark")


def _cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _warm() -> None:
    """Each job process imports torch's optimizers (about 2 CPU s, once per process) before any job
    is timed, so that the first job a process runs does not pay it inside its measured search."""
    import torch

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def run_job(job: tuple[int, str, str, dict[str, Any]]) -> dict[str, Any]:
    seed, form, method, arg_dict = job
    args = argparse.Namespace(**arg_dict)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = bench_config(method, form, seed, args)
    frame = read_dataset("sklearn:digits")
    X, y = frame.drop(columns=["target"]), frame["target"]
    X_tr, X_ho, y_tr, y_ho = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    folds = config.budget.cv_folds
    fold_rows = len(X_tr) * (folds - 1) / folds
    study = optuna.create_study(directions=config.directions, sampler=make_sampler(config))
    cpu, wall = _cpu_s(), time.perf_counter()
    n = 1 if method == "darts" else args.trials
    for _ in range(n):
        trial = study.ask()
        try:
            run = evaluate_darts_trial if method == "darts" else evaluate_trial
            values = run(trial, config, X_tr, y_tr)
            record_constraints(trial, config)
            study.tell(trial, values)
        except optuna.TrialPruned:
            record_constraints(trial, config)
            study.tell(trial, state=TrialState.PRUNED)
    search_cpu, search_wall = _cpu_s() - cpu, time.perf_counter() - wall
    trials = study.get_trials(deepcopy=False)
    samples = sum(int(t.user_attrs.get("train_steps", 0)) for t in trials) * fold_rows
    if method == "darts":
        samples += int(trials[0].user_attrs["darts_train_samples"])
    # DARTS' answer is its one trial: if it breaks a limit as its trial measured it, it is still scored
    # (``constraints_met`` says so) rather than the benchmark stopping on pick's error. A sampled search
    # none of whose trials met the limits as measured (it happened under a load average of 8 on 2 cores:
    # latency medians double) is scored on its best-CV completed trial, ``feasible_pick`` false.
    feasible = True
    if method == "darts":
        chosen = trials[0]
    else:
        try:
            chosen = pick(config, trials)
        except RuntimeError:
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            if not done:
                raise
            feasible, chosen = False, max(done, key=lambda t: float(t.values[0]))
    model = fit_final(config, chosen, X_tr, y_tr)
    accuracy = float((model.predict(X_ho) == y_ho.to_numpy()).mean())
    costs = get_family("torch_hybrid").costs(model, measure_batch(config, X_ho), 15)
    met = all(v <= 0 for v in constraints_by_name(config, costs).values())
    p = chosen.params
    arch = [
        p[f"op_{i}"] + (f"(h{p[f'heads_{i}']},k{p[f'key_dim_{i}']})" if p[f"op_{i}"] == "attn" else "")
        for i in range(3)
    ]
    return {
        "seed": seed,
        "form": form,
        "method": method,
        "trials": len(trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "architecture": f"w{p['width']} " + " ".join(arch),
        "cv_accuracy": float(chosen.values[0]),
        "holdout_accuracy": accuracy,
        "latency_ms": costs["latency_ms"],
        "memory_mb": costs["memory_mb"],
        "constraints_met": met,
        "feasible_pick": feasible,
        "epoch_samples": float(samples),
        "cpu_s": search_cpu,
        "wall_s": search_wall,
        "darts": trials[0].user_attrs.get("darts") if method == "darts" else None,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The goal's three figures over all seeds and forms, and the same per form (``by_form``)."""
    forms = sorted({r["form"] for r in runs})
    summary = _summarize(runs)
    if len(forms) > 1:
        summary["by_form"] = {f: _summarize([r for r in runs if r["form"] == f]) for f in forms}
    return summary


def _summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    darts = [r for r in runs if r["method"] == "darts"]
    best: list[float] = []
    sampled_cpu: list[float] = []
    sampled_samples: list[float] = []
    for d in darts:
        peers = [r for r in runs if r["seed"] == d["seed"] and r["form"] == d["form"] and r["method"] != "darts"]
        best.append(max(r["holdout_accuracy"] for r in peers))
        sampled_cpu.extend(r["cpu_s"] for r in peers)
        sampled_samples.extend(r["epoch_samples"] for r in peers)
    acc_d = float(np.mean([r["holdout_accuracy"] for r in darts]))
    acc_s = float(np.mean(best))
    return {
        "accuracy_darts": round(acc_d, 4),
        "accuracy_best_sampled": round(acc_s, 4),
        "accuracy_gap_pp": round(100 * (acc_s - acc_d), 2),
        "compute_ratio": round(float(np.mean([r["cpu_s"] for r in darts]) / np.mean(sampled_cpu)), 4),
        "compute_ratio_epoch_samples": round(
            float(np.mean([r["epoch_samples"] for r in darts]) / np.mean(sampled_samples)), 4
        ),
        "constraints_met": all(r["constraints_met"] for r in darts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[5, 6, 7, 8, 9],
        help="default: the held-out seeds; DARTS' settings (the study's nas block) were chosen on seeds 0-4",
    )
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=FORMS)
    parser.add_argument(
        "--trials", type=int, default=16, help="trials per sampled search (default: nas_digits_pareto's n_trials)"
    )
    parser.add_argument("--max-epochs", type=int, default=None, help="most epochs per fold, every method")
    parser.add_argument("--cv-folds", type=int, default=None, help="CV folds, every method")
    parser.add_argument("--workers", type=int, default=2, help="processes running the jobs")
    parser.add_argument("--out", default="benchmarks/results/darts.json")
    args = parser.parse_args(argv)
    jobs = [(s, f, m, vars(args)) for s in args.seeds for f in args.forms for m in METHODS]
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_warm) as pool:
        for r in pool.map(run_job, jobs):
            runs.append(r)
            print(
                f"  seed {r['seed']} {r['form']} {r['method']}: holdout {r['holdout_accuracy']:.4f}, "
                f"{r['cpu_s']:.0f} CPU s, {r['architecture']}",
                flush=True,
            )
    print(
        "\n| seed | form | method | trials (pruned) | architecture | CV acc | holdout acc | latency ms | memory MB "
        "| limits met | epochs x samples | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['seed']} | {r['form']} | {r['method']} | {r['trials']} ({r['pruned']}) | {r['architecture']} | "
            f"{r['cv_accuracy']:.4f} | {r['holdout_accuracy']:.4f} | {r['latency_ms']:.2f} | {r['memory_mb']:.2f} | "
            f"{'yes' if r['constraints_met'] else 'no'} | {r['epoch_samples']:.0f} | {r['cpu_s']:.0f} |"
        )
    print("\n| form | method | mean holdout acc | mean CPU s | mean epochs x samples |")
    print("|---|---|---|---|---|")
    for form in args.forms:
        for m in METHODS:
            rs = [r for r in runs if r["form"] == form and r["method"] == m]
            print(
                f"| {form} | {m} | {np.mean([r['holdout_accuracy'] for r in rs]):.4f} | "
                f"{np.mean([r['cpu_s'] for r in rs]):.0f} | {np.mean([r['epoch_samples'] for r in rs]):.0f} |"
            )
    summary = summarize(runs)
    wall = time.perf_counter() - started
    print(
        f"\nDARTS {summary['accuracy_darts']:.4f} vs best sampled {summary['accuracy_best_sampled']:.4f} "
        f"(gap {summary['accuracy_gap_pp']} pp; goal <= 0.5), compute ratio {summary['compute_ratio']} CPU s "
        f"/ {summary['compute_ratio_epoch_samples']} epochs x samples (goal <= 0.333), constraints met: "
        f"{summary['constraints_met']}; wall {wall:.0f} s"
    )
    for form, part in summary.get("by_form", {}).items():
        print(
            f"  {form}: DARTS {part['accuracy_darts']:.4f} vs best sampled {part['accuracy_best_sampled']:.4f} "
            f"(gap {part['accuracy_gap_pp']} pp), compute ratio {part['compute_ratio']} CPU s / "
            f"{part['compute_ratio_epoch_samples']} epochs x samples, constraints met: {part['constraints_met']}"
        )
    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "runs": runs, "summary": summary, "wall_s": wall}, indent=2))
    print(f"wrote {out}")
    keys = ("accuracy_darts", "accuracy_best_sampled", "compute_ratio", "constraints_met")
    print(json.dumps({"bench": "darts", **{k: summary[k] for k in keys}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
