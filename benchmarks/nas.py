"""NAS / multi-objective benchmark: hypervolume of random search vs NSGA-II vs MO-pruned NSGA-II.

    python -m benchmarks.nas [--trials 60] [--seeds 0 1 2] [--out benchmarks/results/nas.json]
                             [--population 10] [--crossover uniform] [--mutation resample] [--sampler nsga2]

(``--sampler tpe|gp`` puts Optuna's multi-objective TPE or GP in the searched methods' place, to compare
samplers on the same table; the last JSON line names the sampler.)

The study is the demo's (``dags/studies/nas_digits_pareto.yaml``: a small CNN on digits;
maximize accuracy, minimize latency_ms and memory_mb, with its constraints), with a smaller
CV and epoch budget so that a run takes minutes. Per seed, interleaved so that machine
drift hits all methods alike:

- ``random``: ``RandomSampler``, no pruning, ``--trials`` trials;
- ``nsga2``: ``NSGAIISampler`` (population ``--population``), no pruning, the same trials;
- ``nsga2_moasha``: the same NSGA-II with the platform's MO-ASHA rule (automl.pruning.moasha,
  applied at every report as the pruning sensor would) given the *same compute* as ``nsga2``
  (training steps = epochs x folds over all trials): it runs trials until it has spent it.

Hypervolume: on log10(error rate), log10(latency) and log10(memory) (each spans orders of
magnitude), normalized to [0, 1] by the min/max over all feasible completed trials of the seed
(all methods), reference point 1.1 on every axis; infeasible trials never count. Reported:
HV of each method's final front; for MO pruning, the HV it reaches within nsga2's compute
(ratio to nsga2) and the compute it needed to first reach nsga2's final HV (saved fraction;
0 if it never did). The last line printed is one JSON object:
{"bench": "nas", "hv_ratio_nsga2_vs_random": H, "mo_pruning_compute_saved": S, "mo_pruning_hv_ratio": P}.
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
import yaml
from optuna.trial import TrialState

from automl.config import StudyConfig, parse_config
from automl.data import read_dataset
from automl.multiobjective import hypervolume
from automl.multiobjective.study import is_feasible
from automl.objective import evaluate_trial
from automl.samplers import make_sampler
from automl.worker import record_constraints

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("random", "nsga2", "nsga2_moasha")


def bench_config(
    seed: int,
    method: str,
    population: int,
    epochs: int,
    folds: int,
    crossover: str = "uniform",
    mutation: str = "resample",
    sampler: str = "nsga2",
) -> StudyConfig:
    data = yaml.safe_load((ROOT / "dags" / "studies" / "nas_digits_pareto.yaml").read_text())
    data.update(seed=seed, sampler="random" if method == "random" else sampler)
    data["multi_objective"].update(population_size=population, crossover=crossover, mutation=mutation)
    data["multi_objective"]["latency_repeats"] = 7
    data["budget"].update(max_epochs=epochs, cv_folds=folds, early_stopping_epochs=3)
    data["pruning"] = {**data["pruning"], "rule": "asha" if method == "nsga2_moasha" else "none"}
    return parse_config(data, source="benchmark")


def run_one(
    seed: int, method: str, args: argparse.Namespace, X: Any, y: Any, step_budget: int | None
) -> dict[str, Any]:
    config = bench_config(
        seed, method, args.population, args.epochs, args.folds, args.crossover, args.mutation, args.sampler
    )
    study = optuna.create_study(directions=config.directions, sampler=make_sampler(config))
    wall, cpu = time.perf_counter(), time.process_time()
    steps, spent = [], 0
    cap = args.trials * 4 if step_budget is not None else args.trials
    while len(study.trials) < cap and (step_budget is None or spent < step_budget):
        trial = study.ask()
        try:
            values = evaluate_trial(trial, config, X, y)
            record_constraints(trial, config)
            study.tell(trial, values)
        except optuna.TrialPruned:
            record_constraints(trial, config)
            study.tell(trial, state=TrialState.PRUNED)
        spent += int(study.trials[-1].user_attrs.get("train_steps", 0))
        steps.append(spent)
    trials = study.get_trials(deepcopy=False)
    points = [(t.number, list(t.values)) for t in trials if t.state == TrialState.COMPLETE and is_feasible(config, t)]
    return {
        "seed": seed,
        "method": method,
        "trials": len(trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "feasible_complete": len(points),
        "train_steps": spent,
        "cum_steps": steps,
        "points": points,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
    }


def _log_losses(values: list[float]) -> list[float]:
    acc, latency, memory = values
    return [float(np.log10(max(1.0 - acc, 1e-4))), float(np.log10(latency)), float(np.log10(memory))]


def hv_upto(run: dict[str, Any], lo: np.ndarray, span: np.ndarray, upto_trial: int | None = None) -> float:
    pts = [_log_losses(v) for n, v in run["points"] if upto_trial is None or n <= upto_trial]
    if not pts:
        return 0.0
    scaled = (np.array(pts) - lo) / span
    return hypervolume(scaled, [1.1, 1.1, 1.1], [False, False, False])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument(
        "--sampler",
        default="nsga2",
        choices=["nsga2", "tpe", "gp"],
        help="sampler of the searched methods (named nsga2 / nsga2_moasha in the table; the JSON says which)",
    )
    parser.add_argument("--crossover", default="uniform", choices=["uniform", "sbx", "blxalpha", "vsbx"])
    parser.add_argument("--mutation", default="resample", choices=["resample", "polynomial"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/nas.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    frame = read_dataset("sklearn:digits")
    X, y = frame.drop(columns=["target"]), frame["target"]

    runs: list[dict[str, Any]] = []
    for seed in args.seeds:
        for method in METHODS:  # interleaved per seed
            budget = None
            if method == "nsga2_moasha":
                budget = next(r for r in runs if r["seed"] == seed and r["method"] == "nsga2")["train_steps"]
            runs.append(run_one(seed, method, args, X, y, budget))
            r = runs[-1]
            print(
                f"  seed {seed} {method}: {r['trials']} trials ({r['pruned']} pruned), {r['train_steps']} steps, "
                f"{r['wall_s']:.0f} s",
                flush=True,
            )

    print("\n| seed | method | trials | pruned | feasible | train steps | HV | HV / random | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    per_seed: list[dict[str, float | None]] = []  # steps to nsga2's hypervolume: None when never reached
    for seed in args.seeds:
        mine = {r["method"]: r for r in runs if r["seed"] == seed}
        allpts = np.array([_log_losses(v) for r in mine.values() for _, v in r["points"]])
        lo, hi = allpts.min(axis=0), allpts.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        hv = {m: hv_upto(r, lo, span) for m, r in mine.items()}
        for m in METHODS:
            r = mine[m]
            r["hv"] = hv[m]
            print(
                f"| {seed} | {m} | {r['trials']} | {r['pruned']} | {r['feasible_complete']} | {r['train_steps']} | "
                f"{hv[m]:.4f} | {hv[m] / hv['random']:.3f} | {r['cpu_s']:.0f} |"
            )
        # MO pruning: compute to first reach nsga2's final HV
        pruned, target, budget = mine["nsga2_moasha"], hv["nsga2"], mine["nsga2"]["train_steps"]
        needed = None
        for number, spent in enumerate(pruned["cum_steps"]):
            if hv_upto(pruned, lo, span, upto_trial=number) >= target - 1e-12:
                needed = spent
                break
        saved = 0.0 if needed is None else 1.0 - needed / budget
        per_seed.append(
            {
                "seed": seed,
                "hv_ratio_nsga2_vs_random": hv["nsga2"] / hv["random"],
                "mo_pruning_hv_ratio": hv["nsga2_moasha"] / hv["nsga2"],
                "mo_pruning_compute_saved": saved,
                "mo_pruning_steps_to_nsga2_hv": needed,
            }
        )
    print(
        "\n| seed | HV nsga2 / random | HV nsga2+MO-ASHA / nsga2 (same compute) | compute saved to reach nsga2's HV |"
    )
    print("|---|---|---|---|")
    for s in per_seed:
        reached = (
            "never reached" if s["mo_pruning_steps_to_nsga2_hv"] is None else f"{s['mo_pruning_compute_saved']:.1%}"
        )
        print(f"| {s['seed']} | {s['hv_ratio_nsga2_vs_random']:.3f} | {s['mo_pruning_hv_ratio']:.3f} | {reached} |")
    summary = {
        k: float(np.mean([s[k] for s in per_seed]))
        for k in ("hv_ratio_nsga2_vs_random", "mo_pruning_compute_saved", "mo_pruning_hv_ratio")
    }
    print(
        f"\nmean over seeds: HV nsga2/random {summary['hv_ratio_nsga2_vs_random']:.3f} (goal >= 1.1); "
        f"MO pruning at equal compute: HV ratio {summary['mo_pruning_hv_ratio']:.3f} (goal >= 1.0), "
        f"compute saved to reach nsga2's HV {summary['mo_pruning_compute_saved']:.1%} (goal > 0)"
    )
    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "runs": runs, "per_seed": per_seed, "summary": summary}, indent=2))
    print(f"wrote {out}")
    print(json.dumps({"bench": "nas", **{k: round(v, 4) for k, v in summary.items()}, "sampler": args.sampler}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
