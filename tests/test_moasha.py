"""The multi-objective pruning rule (MO-ASHA) on hand-built vectors."""

import math

from automl.pruning import MOASHAPruner, VectorCurve, mo_promotable

MAX_MIN = [True, False]  # maximize accuracy, minimize latency


def curve(number: int, steps: dict[int, tuple[float, float]], state: str = "RUNNING", passed=()) -> VectorCurve:
    return VectorCurve(number, steps, state, frozenset(passed))


def test_dominated_trial_stops_at_its_rung_non_dominated_continue() -> None:
    rule = MOASHAPruner(min_resource=1, reduction_factor=2)
    done = [curve(0, {1: (0.9, 1.0)}, "COMPLETE"), curve(1, {1: (0.7, 0.5)}, "COMPLETE"), curve(2, {1: (0.6, 3.0)})]
    # trial 2 is dominated by trial 0 (less accurate and slower): out of the top half of 3 -> stops
    d = rule.judge(done[2], done, MAX_MIN)
    assert d.stop and "rung 0" in d.reason
    # a fast but inaccurate trial is on the first front: continues
    fast = curve(3, {1: (0.5, 0.1)})
    assert not rule.judge(fast, [*done, fast], MAX_MIN).stop


def test_directions_matter() -> None:
    rule = MOASHAPruner(min_resource=1, reduction_factor=2)
    a, b = curve(0, {1: (0.9, 1.0)}, "COMPLETE"), curve(1, {1: (0.8, 2.0)})
    assert rule.judge(b, [a, b], [True, False]).stop  # b: less accurate and slower
    assert not rule.judge(b, [a, b], [False, True]).stop  # minimize the first, maximize the second: b is better


def test_a_trial_before_the_first_rung_is_never_judged_and_grace_waits_for_peers() -> None:
    rule = MOASHAPruner(min_resource=3, reduction_factor=2, min_trials_at_rung=3)
    early = curve(0, {1: (0.1, 9.0), 2: (0.1, 9.0)})
    assert not rule.pending(early) and not rule.judge(early, [early], MAX_MIN).stop
    a = curve(1, {3: (0.9, 1.0)}, "COMPLETE")
    b = curve(2, {3: (0.2, 5.0)})
    assert rule.pending(b)
    assert not rule.judge(b, [a, b], MAX_MIN).stop  # only 2 reached rung 0 (step 3): not judged yet
    c = curve(3, {3: (0.8, 0.9)}, "COMPLETE")
    assert rule.judge(b, [a, b, c], MAX_MIN).stop  # now 3 did; b is dominated by both


def test_rungs_passed_are_recorded_and_not_judged_again() -> None:
    rule = MOASHAPruner(min_resource=1, reduction_factor=3)
    good = curve(0, {1: (0.9, 1.0), 3: (0.95, 1.0)})
    bad = curve(1, {1: (0.2, 5.0), 3: (0.3, 5.0)}, "COMPLETE")
    d = rule.judge(good, [good, bad], MAX_MIN)
    assert not d.stop and d.passed == (0, 1)
    judged = curve(0, good.values, passed=(0, 1))
    assert not rule.pending(judged)


def test_ties_continue_and_nan_stops() -> None:
    rule = MOASHAPruner(min_resource=1, reduction_factor=2)
    twins = [curve(i, {1: (0.8, 1.0)}) for i in range(4)]
    assert not any(rule.judge(t, twins, MAX_MIN).stop for t in twins)
    nan = curve(9, {1: (math.nan, 1.0)})
    d = rule.judge(nan, [*twins, nan], MAX_MIN)
    assert d.stop and "NaN" in d.reason


def test_cost_limits_stop_an_infeasible_architecture_at_once() -> None:
    rule = MOASHAPruner(min_resource=5, reduction_factor=3, limits={1: ("<=", 2.0)})
    slow = curve(0, {1: (0.99, 3.5)})  # before the first rung, but too slow for good
    assert rule.pending(slow)
    d = rule.judge(slow, [slow], MAX_MIN)
    assert d.stop and "infeasible" in d.reason
    assert not rule.judge(curve(1, {1: (0.5, 1.5)}), [], MAX_MIN).stop


def test_promotable_orders_by_front_then_crowding() -> None:
    # front 0: three points; the middle one is crowded; with k = 6 // 3 = 2 survivors, the extremes win
    pts = [(0.9, 3.0), (0.85, 2.0), (0.5, 1.0), (0.3, 5.0), (0.2, 6.0), (0.1, 7.0)]
    keep = [mo_promotable(i, pts, 3, MAX_MIN) for i in range(len(pts))]
    assert keep == [True, False, True, False, False, False]
