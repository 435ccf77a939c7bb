"""The Pareto math agrees with Optuna's own (private) functions, through automl.storage.compat, on random points."""

import numpy as np
import pytest

from automl.multiobjective import crowding_distance, hypervolume, knee_point, non_dominated_ranks, pareto_mask
from automl.storage.compat import compute_hypervolume, fast_non_domination_rank


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_non_dominated_sort_agrees_with_optuna(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, 6, size=(60, m)).astype(float)  # small integers: many ties and duplicates
    maximize = [bool(b) for b in rng.integers(0, 2, size=m)]
    ours = non_dominated_ranks(pts, maximize)
    losses = pts * np.where(maximize, -1, 1)
    np.testing.assert_array_equal(ours, fast_non_domination_rank(losses))
    assert ours.min() == 0 and (pareto_mask(pts, maximize) == (ours == 0)).all()


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_agrees_with_optuna(m: int, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    pts = rng.random((40, m))
    maximize = [bool(b) for b in rng.integers(0, 2, size=m)]
    reference = np.where(maximize, -0.1, 1.1)
    losses = pts * np.where(maximize, -1, 1)
    expected = compute_hypervolume(losses, reference * np.where(maximize, -1, 1))
    assert hypervolume(pts, reference, maximize) == pytest.approx(expected, rel=1e-9)


def test_hypervolume_by_hand_and_points_beyond_the_reference() -> None:
    # minimize both: squares 2x1 + 1x1 overlapping -> 3; the point at (5, 0) is outside the box
    assert hypervolume([[1, 2], [2, 1], [5, 0]], [3, 3], [False, False]) == pytest.approx(3.0)
    assert hypervolume([], [3, 3], [False, False]) == 0.0
    # maximize accuracy, minimize latency
    assert hypervolume([[0.9, 2.0]], [0.5, 4.0], [True, False]) == pytest.approx(0.4 * 2.0)


def test_crowding_distance_extremes_infinite_and_knee_in_the_middle() -> None:
    front = np.array([[0.0, 1.0], [0.45, 0.45], [1.0, 0.0], [0.2, 0.8]])
    d = crowding_distance(front, [False, False])
    assert np.isinf(d[0]) and np.isinf(d[2]) and np.isfinite(d[1]) and d[1] > 0
    assert knee_point(front, [False, False]) == 1
