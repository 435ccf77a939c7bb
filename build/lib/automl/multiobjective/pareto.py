"""Pareto math on plain arrays: non-dominated sorting, crowding distance, hypervolume, knee point.

Pure numpy, no Optuna objects: the multi-objective pruning rule and the Pareto
report both use it. Optuna has the same algorithms only as private functions
(reached through ``automl.storage.compat``); the tests check that these agree
with them on random points.

Conventions: ``points`` is an ``(n, m)`` array; ``maximize`` says per objective
whether larger is better. Internally everything is turned into losses
(smaller is better) by negating the maximized objectives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_losses(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """``points`` as losses: maximized objectives negated."""
    arr = np.asarray(points, dtype=float).reshape(-1, len(maximize))
    return arr * np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Loss vector ``a`` dominates ``b``: no worse anywhere, better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_ranks(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """Front index of each point (0: the Pareto front), by repeatedly peeling non-dominated points."""
    losses = to_losses(points, maximize)
    n = len(losses)
    ranks = np.full(n, -1, dtype=int)
    remaining = np.arange(n)
    rank = 0
    while remaining.size:
        sub = losses[remaining]
        # i is dominated when some j is <= everywhere and < somewhere
        le = np.all(sub[None, :, :] <= sub[:, None, :], axis=2)  # le[i, j]: j <= i everywhere
        lt = np.any(sub[None, :, :] < sub[:, None, :], axis=2)
        dominated = np.any(le & lt, axis=1)
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    return ranks


def pareto_mask(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """Boolean mask of the non-dominated points (duplicates of a front point are all on the front)."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    return non_dominated_ranks(points, maximize) == 0


def crowding_distance(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """NSGA-II crowding distance within one set of points (extremes get infinity)."""
    losses = to_losses(points, maximize)
    n, m = losses.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(losses[:, k], kind="stable")
        col = losses[order, k]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float], maximize: Sequence[bool]
) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (points not better than it add nothing).

    Exact: a sweep in 2-D, slicing along the first objective in higher dimensions
    (fine for the front sizes of a study, a few hundred points).
    """
    losses = to_losses(points, maximize)
    ref = to_losses([reference], maximize)[0]
    if losses.size == 0:
        return 0.0
    losses = losses[np.all(losses < ref, axis=1)]
    if losses.size == 0:
        return 0.0
    return _hv(losses[pareto_mask(losses, [False] * losses.shape[1])], ref)


def _hv(losses: np.ndarray, ref: np.ndarray) -> float:
    m = losses.shape[1]
    if m == 1:
        return float(ref[0] - losses[:, 0].min())
    if m == 2:
        order = np.argsort(losses[:, 0], kind="stable")
        volume, best_y = 0.0, ref[1]
        for x, y in losses[order]:
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    # slice along objective 0: between consecutive x values the dominated set is fixed
    order = np.argsort(losses[:, 0], kind="stable")
    xs = losses[order, 0]
    volume = 0.0
    for i in range(len(order)):
        upper = xs[i + 1] if i + 1 < len(order) else ref[0]
        width = upper - xs[i]
        if width <= 0:
            continue
        active = losses[order[: i + 1], 1:]
        active = active[pareto_mask(active, [False] * (m - 1))]
        volume += width * _hv(active, ref[1:])
    return float(volume)


def knee_point(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> int:
    """Index of the front point closest to the ideal point after scaling each objective to [0, 1].

    A common "balanced" pick from a Pareto front; ``points`` should be the front.
    """
    losses = to_losses(points, maximize)
    lo, hi = losses.min(axis=0), losses.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (losses - lo) / span
    return int(np.argmin(np.linalg.norm(scaled, axis=1)))
