"""A multi-objective study's objectives, constraints and Pareto front, from its trials.

A trial's measures (metric, latency_ms, memory_mb, n_params) are in its ``measures``
user attribute; its constraint values (Optuna's convention: <= 0 is feasible) are
computed from them and stored with ``Trial.set_constraint`` before the trial is told,
so Optuna's samplers (NSGA-II, TPE, GP), its plots and these reports agree on feasibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from automl.config import StudyConfig
from automl.multiobjective.pareto import hypervolume, knee_point, pareto_mask


def maximize_flags(config: StudyConfig) -> list[bool]:
    return [d == "maximize" for d in config.directions]


def constraints_by_name(config: StudyConfig, measures: dict[str, float]) -> dict[str, float]:
    """Constraint text -> value, <= 0 when satisfied (a missing measure counts as violated)."""
    mo = config.multi_objective
    out = {}
    for text, (name, op, bound) in zip(
        mo.constraints if mo else [], mo.parsed_constraints() if mo else [], strict=True
    ):
        v = measures.get(name)
        if v is None or np.isnan(v):
            out[text] = 1.0
        else:
            out[text] = float(v - bound) if op == "<=" else float(bound - v)
    return out


def constraint_values(config: StudyConfig, measures: dict[str, float]) -> list[float]:
    return list(constraints_by_name(config, measures).values())


def is_feasible(config: StudyConfig, trial: FrozenTrial) -> bool:
    return all(c <= 0 for c in constraint_values(config, trial.user_attrs.get("measures", {})))


def feasible_complete(config: StudyConfig, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None and is_feasible(config, t)]


def front(config: StudyConfig, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The feasible, non-dominated completed trials, by trial number."""
    ok = feasible_complete(config, trials)
    if not ok:
        return []
    mask = pareto_mask([t.values for t in ok], maximize_flags(config))
    return [t for t, m in zip(ok, mask, strict=True) if m]


def reference_point(config: StudyConfig, trials: Sequence[FrozenTrial]) -> list[float]:
    """Hypervolume reference: the configured value, else the constraint bound, else the worst feasible value
    (for metrics bounded in [0, 1] and maximized: 0)."""
    mo = config.multi_objective
    assert mo is not None
    bounds = {name: bound for name, op, bound in mo.parsed_constraints()}
    values = np.array([t.values for t in feasible_complete(config, trials)], dtype=float)
    ref = []
    for i, (name, maximize) in enumerate(zip(config.objective_names, maximize_flags(config), strict=True)):
        if name in mo.reference_point:
            ref.append(float(mo.reference_point[name]))
        elif name in bounds:
            ref.append(float(bounds[name]))
        elif maximize and name == config.metric and config.metric in ("accuracy", "roc_auc", "f1_macro", "r2"):
            ref.append(0.0)
        elif values.size:
            col = values[:, i]
            worst = col.min() if maximize else col.max()
            ref.append(float(worst - 0.1 * abs(worst)) if maximize else float(worst + 0.1 * abs(worst) + 1e-12))
        else:
            ref.append(0.0)
    return ref


def study_hypervolume(config: StudyConfig, trials: Sequence[FrozenTrial], reference: Sequence[float]) -> float:
    f = front(config, trials)
    return hypervolume([t.values for t in f], reference, maximize_flags(config)) if f else 0.0


def pick(config: StudyConfig, trials: Sequence[FrozenTrial]) -> FrozenTrial:
    """The front point the config chooses to retrain: the best metric, or the knee point."""
    mo = config.multi_objective
    assert mo is not None
    f = front(config, trials)
    if not f:
        raise RuntimeError(
            "no completed trial satisfies the constraints "
            f"{mo.constraints}; relax them or raise the trial budget (nothing to retrain)"
        )
    if mo.pick == "knee" and len(f) > 2:
        return f[knee_point([t.values for t in f], maximize_flags(config))]
    i = config.objective_names.index(config.metric)
    sign = 1.0 if config.metric_direction == "maximize" else -1.0
    return max(f, key=lambda t: (sign * t.values[i], -t.number))


def pareto_rows(config: StudyConfig, trials: Sequence[FrozenTrial]) -> list[dict[str, Any]]:
    """The front as table rows: trial, objective values, every measure, parameters."""
    rows = []
    for t in front(config, trials):
        row: dict[str, Any] = {"trial": t.number}
        row.update(dict(zip(config.objective_names, t.values, strict=True)))
        for k, v in t.user_attrs.get("measures", {}).items():
            row.setdefault(k, v)
        row["params"] = dict(t.params)
        rows.append(row)
    return rows
