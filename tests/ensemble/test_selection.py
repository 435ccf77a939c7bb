"""Greedy ensemble selection (Caruana et al. 2004), the candidates on disk and the fitted ensemble."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import make_config
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import check_estimator

from automl.ensemble import OofStore, build_ensemble, ensemble_estimator, greedy_selection
from automl.metrics.scoring import score_predictions
from automl.objective import evaluate_trial

CLASSES = np.array([0, 1])


def _noisy(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Probabilities (n, 2) that point at the true class with some noise."""
    rng = np.random.RandomState(seed)
    p = np.clip(0.5 + (y - 0.5) * 0.6 + noise * rng.normal(size=len(y)), 0.01, 0.99)
    return np.column_stack([1 - p, p])


def test_selection_picks_the_better_of_two_candidates() -> None:
    y = np.random.RandomState(0).randint(0, 2, size=300)
    good, bad = _noisy(y, 0.2, 1), _noisy(y, 0.9, 2)
    sel = greedy_selection([bad, good], y, "roc_auc", size=1, classes=CLASSES)
    assert sel.picks == [1] and sel.weights.tolist() == [0.0, 1.0]
    assert sel.score == pytest.approx(score_predictions("roc_auc", y, good, CLASSES))
    rmse = greedy_selection([y + 3.0, y + 0.1], y.astype(float), "rmse", size=1)  # minimized metric
    assert rmse.picks == [1] and rmse.score == pytest.approx(0.1)


def test_weights_sum_to_one_and_members_repeat_with_replacement() -> None:
    y = np.random.RandomState(3).randint(0, 2, size=400)
    candidates = [_noisy(y, 0.35, s) for s in range(4)]
    best_single = max(score_predictions("roc_auc", y, p, CLASSES) for p in candidates)
    sel = greedy_selection(candidates, y, "roc_auc", size=15, classes=CLASSES)
    assert sel.weights.sum() == pytest.approx(1.0)
    assert len(sel.picks) > len(set(sel.picks))  # a candidate was picked more than once
    assert len(sel.members) >= 2
    assert sel.score > best_single  # independent errors: the average beats each one
    assert sel.score == pytest.approx(
        score_predictions("roc_auc", y, sum(w * p for w, p in zip(sel.weights, candidates, strict=True)), CLASSES)
    )


@pytest.mark.parametrize("seed", range(5))
def test_never_worse_on_oof_than_the_best_single_candidate(seed: int) -> None:
    rng = np.random.RandomState(seed)
    y = rng.normal(size=200)
    # one good candidate and several bad ones: forced rounds would make the average worse
    candidates = [y + 0.1 * rng.normal(size=200)] + [y + rng.normal(size=200) + 2 for _ in range(3)]
    best_single = min(score_predictions("rmse", y, p) for p in candidates)
    sel = greedy_selection(candidates, y, "rmse", size=10)
    assert sel.score <= best_single + 1e-12
    assert sel.weights.sum() == pytest.approx(1.0)


def test_selection_refuses_misshapen_candidates() -> None:
    y = np.zeros(10)
    with pytest.raises(ValueError, match="shape"):
        greedy_selection([np.zeros(10), np.zeros(9)], y, "rmse", size=3)


def test_store_keeps_only_the_best_trials_and_never_unpickles(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    store = OofStore(tmp_path, max_candidates=2, maximize=True)
    pred = np.full((5, 2), 0.5)
    for value in (0.1, 0.5, 0.3, 0.05):
        trial = study.ask()
        store.keep(study, trial.number, value, pred)
        study.tell(trial, value)
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["1.npy", "2.npy"]  # 0.5 and 0.3; 0.05 never written
    assert store.candidates(study) == [1, 2]
    assert store.load(1, (5, 2)) is not None
    assert store.load(1, (6, 2)) is None  # wrong row count: not a candidate
    np.save(tmp_path / "2.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)  # a pickled payload
    assert store.load(2, (5, 2)) is None  # refused (allow_pickle=False), not executed


def test_unwritable_state_keeps_no_predictions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_config(ensemble={"size": 5})
    blocked = tmp_path / "blocked"
    blocked.write_text("")  # the run folder is not a writable folder (as a pod's read-only mount)
    assert OofStore.for_worker(cfg, blocked / "train_features.parquet") is None
    assert "cannot be written" in caplog.text
    assert OofStore.for_worker(make_config(), tmp_path / "train.parquet") is None  # size 1: off
    mo = make_config(
        ensemble={"size": 5}, multi_objective={"objectives": [{"name": "roc_auc"}, {"name": "latency_ms"}]}
    )
    assert OofStore.for_worker(mo, tmp_path / "train.parquet") is None  # multi-objective: no ensemble


def test_trial_oof_predictions_cover_every_row_for_each_family() -> None:
    data = load_breast_cancer(as_frame=True)
    X, y = data.data.iloc[:150], data.target.iloc[:150]
    for family in ("logistic_regression", "lightgbm"):
        cfg = make_config(model_space=[family], ensemble={"size": 5}, budget={"max_rounds": 30, "report_every": 10})
        kept: dict[int, tuple[float, np.ndarray]] = {}
        # a seeded sampler: an unseeded one drew, now and then, parameters that make a fold constant (CI failed so)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        value = evaluate_trial(trial, cfg, X, y, keep_oof=lambda n, v, p, kept=kept: kept.__setitem__(n, (v, p)))
        (got_value, pred) = kept[trial.number]
        assert got_value == value and pred.shape == (150, 2) and np.isfinite(pred).all()
        assert np.allclose(pred.sum(axis=1), 1.0)
        auc = score_predictions("roc_auc", y, pred, CLASSES)
        assert abs(auc - value) < 0.05, family  # pooled OOF AUC is close to the mean of the folds' AUC


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_ensemble_estimator_passes_sklearn_checks(task: str) -> None:
    if task == "classification":
        members = [("lr", LogisticRegression(max_iter=500)), ("tree", DecisionTreeClassifier(max_depth=3))]
    else:
        members = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=3))]
    estimator = ensemble_estimator(task, members, [0.75, 0.25])
    check_estimator(estimator)


def _ensemble_setup(tmp_path: Path) -> tuple[Any, optuna.Study, Path, pd.DataFrame, pd.Series]:
    """Two families on 200 rows, a size-10 ensemble of at most 5 stored candidates, an empty study."""
    data = load_breast_cancer(as_frame=True)
    cfg = make_config(
        model_space=["logistic_regression", "random_forest"],
        ensemble={"size": 10, "max_candidates": 5},
        search_space={"random_forest": {"n_estimators": {"low": 10, "high": 20, "step": 10}}},
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    return cfg, study, tmp_path / "train_features.parquet", data.data.iloc[:200, :8], data.target.iloc[:200]


def _run_trials(cfg: Any, study: optuna.Study, train_path: Path, X: pd.DataFrame, y: pd.Series) -> OofStore:
    """Six trials, their out-of-fold predictions kept as the workers keep them."""
    store = OofStore.for_worker(cfg, train_path)
    assert store is not None
    for _ in range(6):
        trial = study.ask()
        study.tell(trial, evaluate_trial(trial, cfg, X, y, keep_oof=lambda n, v, p: store.keep(study, n, v, p)))
    return store


def test_build_ensemble_from_stored_candidates_and_fallback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg, study, train_path, X, y = _ensemble_setup(tmp_path)
    assert build_ensemble(cfg, study, str(train_path), X, y) is None  # no candidates: the best trial alone
    assert "0 usable candidate" in caplog.text
    store = _run_trials(cfg, study, train_path, X, y)
    assert len(list(store.folder.glob("*.npy"))) == 5
    built = build_ensemble(cfg, study, str(train_path), X, y)
    assert built is not None  # this seed's random trials: three of five candidates selected
    assert sum(built.members.values()) == pytest.approx(1.0) and len(built.members) >= 2
    assert built.oof_score >= built.best_single_oof
    proba = built.model.predict_proba(X.head(7))
    assert proba.shape == (7, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(built.model.classes_) == [0, 1]

    # under an end-to-end budget the members' refits must fit in the time left (estimated from each trial's
    # measured training time): the most expensive members leave until they do, or the best trial stays alone
    from automl.ensemble.build import refit_seconds

    trials = {t.number: t for t in study.get_trials()}
    costs = {n: refit_seconds(cfg, trials[n]) for n in built.members}
    assert all(c > 0 for c in costs.values())
    allowance = sum(costs.values()) - 1e-6  # just short of the unlimited ensemble's refits
    caplog.set_level("INFO", logger="automl.ensemble")
    capped = build_ensemble(cfg, study, str(train_path), X, y, seconds_left=allowance)
    assert "exceed the" in caplog.text
    if capped is not None:
        assert sum(refit_seconds(cfg, trials[n]) for n in capped.members) <= allowance
        assert capped.oof_score >= capped.best_single_oof and len(capped.members) >= 2
    assert build_ensemble(cfg, study, str(train_path), X, y, seconds_left=0.0) is None  # no time: the best alone


def test_the_best_candidate_stays_when_it_is_the_most_expensive_refit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Under a tight allowance the other members leave, never the best trial: dropping it once made the
    ensemble of the cheap rest the final model (diamonds, 2026-12-02: holdout RMSE 664.8 against 542.5)."""
    cfg, study, train_path, X, y = _ensemble_setup(tmp_path)
    _run_trials(cfg, study, train_path, X, y)
    full = build_ensemble(cfg, study, str(train_path), X, y)
    assert full is not None and len(full.members) >= 2
    # the same trials, the best one's measured training time made the largest by far
    best = study.best_trial.number
    slow = optuna.create_study(direction="maximize")
    for t in study.get_trials():
        attrs = {**t.user_attrs, "train_seconds": 1000.0} if t.number == best else dict(t.user_attrs)
        slow.add_trial(
            optuna.trial.create_trial(
                params=t.params, distributions=t.distributions, value=t.value, user_attrs=attrs, state=t.state
            )
        )
    from automl.ensemble.build import refit_seconds

    trials = {t.number: t for t in slow.get_trials()}
    assert max(trials, key=lambda n: refit_seconds(cfg, trials[n])) == best
    caplog.set_level("INFO", logger="automl.ensemble")
    # less than the best trial's refit alone: the others leave, the best stays (the final model is it alone)
    assert build_ensemble(cfg, slow, str(train_path), X, y, seconds_left=1.0) is None
    assert f"trial {best} " not in caplog.text and "leaves the candidates" in caplog.text
    # room for the best trial's refit and the cheap rest: an ensemble that holds the best trial
    cheap = sum(refit_seconds(cfg, trials[n]) for n in full.members if n != best)
    capped = build_ensemble(cfg, slow, str(train_path), X, y, seconds_left=refit_seconds(cfg, trials[best]) + cheap)
    assert capped is not None and best in capped.members
    assert capped.oof_score >= capped.best_single_oof
