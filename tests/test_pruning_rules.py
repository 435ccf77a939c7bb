"""The pure pruning rules on hand-built intermediate values, and agreement with Optuna."""

import math
import random

import optuna
import pytest

from automl.pruning import ASHAPruner, HyperbandPruner, MedianPruner, TrialCurve, promotable


def curve(number: int, values: dict[int, float], state: str = "COMPLETE", passed: tuple[int, ...] = ()) -> TrialCurve:
    return TrialCurve(number, values, state, frozenset(passed))


def test_promotable_top_fraction_ties_and_directions() -> None:
    vals = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # eta=3 keeps the top 2
    assert promotable(0.8, vals, 3, maximize=True)
    assert not promotable(0.7, vals, 3, maximize=True)
    assert promotable(0.5, vals, 3, maximize=False)
    assert not promotable(0.6, vals, 3, maximize=False)
    assert promotable(0.8, [0.9, 0.8, 0.8, 0.1, 0.1, 0.1], 3, maximize=True)  # a tie with the threshold continues
    assert promotable(0.9, [0.9, 0.5], 3, maximize=True) and not promotable(0.5, [0.9, 0.5], 3, maximize=True)


def test_asha_rungs_are_geometric() -> None:
    asha = ASHAPruner(min_resource=10, reduction_factor=3)
    assert [asha.rung_step(k) for k in range(4)] == [10, 30, 90, 270]


def test_asha_stops_a_trial_outside_the_top_third_at_its_rung() -> None:
    asha = ASHAPruner(min_resource=10, reduction_factor=3)
    done = [curve(i, {10: v}) for i, v in enumerate([0.90, 0.85, 0.80, 0.75, 0.70])]
    bad = curve(9, {5: 0.5, 10: 0.72}, "RUNNING")
    good = curve(9, {5: 0.5, 10: 0.86}, "RUNNING")
    d = asha.judge(bad, [*done, bad], maximize=True)
    assert d.stop and "rung 0" in d.reason
    d = asha.judge(good, [*done, good], maximize=True)
    assert not d.stop and d.passed == (0,)
    # minimize: lower is better, same data mirrored
    d = asha.judge(curve(9, {10: 0.72}, "RUNNING"), [*done, curve(9, {10: 0.72}, "RUNNING")], maximize=False)
    assert not d.stop


def test_asha_never_stops_a_trial_below_the_first_rung() -> None:
    asha = ASHAPruner(min_resource=50, reduction_factor=3)
    done = [curve(i, {50: 0.9, 150: 0.95}) for i in range(6)]
    short = curve(7, {10: 0.0, 25: 0.0, 49: 0.0}, "RUNNING")
    assert not asha.judge(short, [*done, short], maximize=True).stop


def test_asha_uses_the_first_report_at_or_after_the_rung() -> None:
    asha = ASHAPruner(min_resource=10, reduction_factor=2)
    done = [curve(0, {12: 0.9}), curve(1, {12: 0.8}), curve(2, {12: 0.7})]
    t = curve(3, {8: 0.99, 12: 0.85, 16: 0.1}, "RUNNING")  # at rung step 10 it had 0.85 (reported at 12)
    assert not asha.judge(t, [*done, t], maximize=True).stop  # top 2 of [0.9, 0.85, 0.8, 0.7]
    t = curve(3, {8: 0.5, 12: 0.95}, "RUNNING")  # 0.5 was before the rung: not what is judged
    assert not asha.judge(t, [*done, t], maximize=True).stop
    t = curve(3, {8: 0.99, 12: 0.75}, "RUNNING")
    assert asha.judge(t, [*done, t], maximize=True).stop


def test_asha_judges_each_rung_once() -> None:
    asha = ASHAPruner(min_resource=10, reduction_factor=3)
    # passed rung 0 earlier; later arrivals at rung 0 are all better, but it is not judged there again
    t = curve(9, {10: 0.5, 20: 0.55}, "RUNNING", passed=(0,))
    later = [curve(i, {10: 0.9}) for i in range(6)]
    assert not asha.judge(t, [*later, t], maximize=True).stop
    assert asha.judge(curve(9, {10: 0.5, 20: 0.55}, "RUNNING"), [*later, t], maximize=True).stop


def test_asha_grace_waits_for_enough_trials_at_a_rung() -> None:
    asha = ASHAPruner(min_resource=10, reduction_factor=3, min_trials_at_rung=4)
    done = [curve(0, {10: 0.9}), curve(1, {10: 0.8})]
    t = curve(2, {10: 0.1}, "RUNNING")
    d = asha.judge(t, [*done, t], maximize=True)
    assert not d.stop and d.passed == ()  # not judged yet
    more = [*done, curve(3, {10: 0.85}), t]
    assert asha.judge(t, more, maximize=True).stop


def test_nan_is_stopped_at_the_rung() -> None:
    asha = ASHAPruner(min_resource=1, reduction_factor=3)
    t = curve(0, {1: math.nan}, "RUNNING")
    assert asha.judge(t, [t], maximize=True).stop
    assert MedianPruner(0).judge(t, [t], maximize=True).stop


def test_median_rule() -> None:
    med = MedianPruner(n_startup_trials=3)
    done = [curve(i, {1: v, 2: v}) for i, v in enumerate([0.9, 0.8, 0.7])]
    assert med.judge(curve(5, {1: 0.75}, "RUNNING"), done, maximize=True).stop
    assert not med.judge(curve(5, {1: 0.85}, "RUNNING"), done, maximize=True).stop
    assert not med.judge(curve(5, {1: 0.75}, "RUNNING"), done, maximize=False).stop
    assert not med.judge(curve(5, {1: 0.1}, "RUNNING"), done[:2], maximize=True).stop  # startup trials


def test_hyperband_compares_within_a_bracket_only() -> None:
    hb = HyperbandPruner(min_resource=10, max_resource=90, reduction_factor=3)
    assert len(hb.brackets) == 3 and [b.min_resource for b in hb.brackets] == [10, 30, 90]
    # trial 3 is in bracket 0 with trials 0 (good); trials 1, 2 (other brackets) are ignored
    trials = [curve(0, {10: 0.9}), curve(1, {10: 0.1}), curve(2, {10: 0.1})]
    t = curve(3, {10: 0.5}, "RUNNING")
    assert hb.bracket_of(3) == 0 and hb.judge(t, [*trials, t], maximize=True).stop
    t4 = curve(4, {10: 0.0}, "RUNNING")  # bracket 1: first rung at 30, not reached
    assert not hb.judge(t4, [*trials, t4], maximize=True).stop


def _optuna_prune_steps(
    curves: list[dict[int, float]], min_resource: int, eta: int, maximize: bool
) -> list[int | None]:
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=eta),
    )
    out: list[int | None] = []
    for values in curves:
        trial = study.ask()
        pruned_at = None
        for step in sorted(values):
            trial.report(values[step], step)
            if trial.should_prune():
                pruned_at = step
                break
        study.tell(trial, state=optuna.trial.TrialState.PRUNED) if pruned_at else study.tell(trial, values[max(values)])
        out.append(pruned_at)
    return out


def _our_prune_steps(curves: list[dict[int, float]], min_resource: int, eta: int, maximize: bool) -> list[int | None]:
    asha = ASHAPruner(min_resource=min_resource, reduction_factor=eta, min_trials_at_rung=1)
    finished: list[TrialCurve] = []
    out: list[int | None] = []
    for number, values in enumerate(curves):
        seen: dict[int, float] = {}
        passed: set[int] = set()
        pruned_at = None
        for step in sorted(values):
            seen[step] = values[step]
            me = TrialCurve(number, dict(seen), "RUNNING", frozenset(passed))
            d = asha.judge(me, [*finished, me], maximize)
            passed.update(d.passed)
            if d.stop:
                pruned_at = step
                break
        finished.append(TrialCurve(number, dict(seen), "PRUNED" if pruned_at else "COMPLETE"))
        out.append(pruned_at)
    return out


@pytest.mark.parametrize("maximize", [True, False])
@pytest.mark.parametrize(("min_resource", "eta", "every"), [(1, 3, 1), (3, 2, 2), (5, 3, 5)])
def test_asha_agrees_with_optunas_successive_halving(maximize: bool, min_resource: int, eta: int, every: int) -> None:
    rng = random.Random(min_resource * 100 + eta * 10 + every + int(maximize))
    curves = []
    for _ in range(40):
        rate, level = rng.uniform(0.01, 0.3), rng.uniform(0.5, 0.9)
        curves.append(
            {
                s: level + (1 - level) * (1 - math.exp(-rate * s)) + rng.gauss(0, 0.01)
                for s in range(every, 60 + 1, every)
            }
        )
    ours = _our_prune_steps(curves, min_resource, eta, maximize)
    theirs = _optuna_prune_steps(curves, min_resource, eta, maximize)
    assert ours == theirs
    assert any(s is not None for s in ours) and any(s is None for s in ours)  # the data exercises both outcomes


def test_asha_best_so_far_is_not_swayed_by_one_noisy_report() -> None:
    done = [curve(i, {10: v}) for i, v in enumerate([0.9, 0.85, 0.80, 0.75, 0.70, 0.65])]
    noisy = curve(9, {5: 0.95, 10: 0.6}, "RUNNING")  # was the best, then one bad report at the rung
    assert ASHAPruner(10, 3, rung_value="current").judge(noisy, [*done, noisy], maximize=True).stop
    assert not ASHAPruner(10, 3, rung_value="best").judge(noisy, [*done, noisy], maximize=True).stop
    low = curve(9, {5: 0.05, 10: 0.4}, "RUNNING")  # minimize: best so far 0.05
    done_min = [curve(i, {10: v}) for i, v in enumerate([0.1, 0.2, 0.3, 0.5, 0.6, 0.7])]
    assert not ASHAPruner(10, 3, rung_value="best").judge(low, [*done_min, low], maximize=False).stop
    assert ASHAPruner(10, 3, rung_value="current").judge(low, [*done_min, low], maximize=False).stop


def test_pending_is_true_only_at_an_unjudged_rung() -> None:
    asha = ASHAPruner(min_resource=10, reduction_factor=3)
    assert not asha.pending(curve(0, {}, "RUNNING"))
    assert not asha.pending(curve(0, {5: 0.1}, "RUNNING"))
    assert asha.pending(curve(0, {5: 0.1, 10: 0.2}, "RUNNING"))
    assert not asha.pending(curve(0, {10: 0.2, 20: 0.3}, "RUNNING", passed=(0,)))
    assert asha.pending(curve(0, {10: 0.2, 30: 0.3}, "RUNNING", passed=(0,)))
    hb = HyperbandPruner(min_resource=10, max_resource=90, reduction_factor=3)
    assert hb.pending(curve(0, {10: 0.2}, "RUNNING")) and not hb.pending(curve(1, {10: 0.2}, "RUNNING"))
