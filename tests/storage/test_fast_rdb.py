"""FastRDBStorage against Optuna's RDBStorage: the same operations give the same trials and the same errors."""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from automl.storage import FastRDBStorage, compat, get_storage


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fast.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _script(storage: optuna.storages.BaseStorage, name: str) -> tuple[list[FrozenTrial], list[str]]:
    """A study exercising every overridden call; returns its trials and the errors raised, in order."""
    sid = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], name)
    errors: list[str] = []

    def expect(exc: type[BaseException], call: Any, *args: Any) -> None:
        with pytest.raises(exc) as info:
            call(*args)
        errors.append(f"{exc.__name__}: {info.value}")

    ids = [storage.create_new_trial(sid) for _ in range(3)]
    a, b, c = ids
    storage.set_trial_param(a, "lr", 0.01, FloatDistribution(1e-4, 1.0, log=True))
    storage.set_trial_param(a, "depth", 5, IntDistribution(2, 9))
    storage.set_trial_param(a, "model", 1, CategoricalDistribution(["lgbm", "mlp", None]))
    storage.set_trial_param(b, "lr", 0.2, FloatDistribution(1e-4, 1.0, log=True))
    # an incompatible distribution for a known parameter name is refused, as Optuna refuses it
    expect(ValueError, storage.set_trial_param, c, "model", 0.5, FloatDistribution(0, 1))
    for step, value in enumerate([0.5, float("nan"), float("inf"), -float("inf"), 0.75]):
        storage.set_trial_intermediate_value(a, step, value)
    storage.set_trial_intermediate_value(a, 4, 0.8)  # overwrite a step
    storage.set_trial_user_attr(a, "fold_scores", [0.1, 0.2])
    storage.set_trial_user_attr(a, "fold_scores", {"replaced": True})
    storage.set_trial_user_attr(a, "note", "é ✓")
    storage.set_trial_system_attr(a, "automl:heartbeat", 12.5)
    storage.set_trial_system_attr(b, "automl:stop", "rung 0")
    storage.set_trial_state_values(a, TrialState.COMPLETE, [0.9])
    storage.set_trial_state_values(b, TrialState.PRUNED)
    # finished trials refuse every write; unknown trials are KeyErrors
    expect(UpdateFinishedTrialError, storage.set_trial_intermediate_value, a, 9, 0.1)
    expect(UpdateFinishedTrialError, storage.set_trial_user_attr, b, "k", 1)
    expect(UpdateFinishedTrialError, storage.set_trial_system_attr, a, "k", 1)
    expect(UpdateFinishedTrialError, storage.set_trial_param, b, "x", 0.1, FloatDistribution(0, 1))
    expect(KeyError, storage.get_trial, 10**9)
    expect(KeyError, storage.set_trial_intermediate_value, 10**9, 0, 0.1)
    expect(KeyError, storage.set_trial_user_attr, 10**9, "k", 1)
    expect(KeyError, storage.get_all_trials, 10**9)
    # a WAITING trial (enqueued) is still writable; RUNNING is granted once, only from WAITING
    w = storage.create_new_trial(sid, template_trial=_waiting())
    storage.set_trial_user_attr(w, "retry_of", 0)
    assert storage.set_trial_state_values(c, TrialState.RUNNING) is False
    assert storage.set_trial_state_values(w, TrialState.RUNNING) is True
    assert storage.set_trial_state_values(w, TrialState.RUNNING) is False
    storage.set_trial_state_values(c, TrialState.FAIL)
    expect(KeyError, storage.set_trial_state_values, 10**9, TrialState.COMPLETE, [1.0])
    expect(UpdateFinishedTrialError, storage.set_trial_state_values, c, TrialState.COMPLETE, [1.0])
    # several objectives, infinite values
    mo = storage.create_new_study(
        [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE], name + "-mo"
    )
    m = storage.create_new_trial(mo)
    storage.set_trial_state_values(m, TrialState.COMPLETE, [float("inf"), -float("inf")])
    return storage.get_all_trials(sid) + storage.get_all_trials(mo), errors


def _waiting() -> FrozenTrial:
    return optuna.trial.create_trial(
        state=TrialState.WAITING,
        params={"lr": 0.05},
        distributions={"lr": FloatDistribution(1e-4, 1.0, log=True)},
        system_attrs={"fixed_params": {"lr": 0.05}},
    )


def _comparable(t: FrozenTrial) -> dict[str, Any]:
    d = {k: getattr(t, k) for k in ("number", "state", "values", "params", "distributions", "user_attrs")}
    d |= {"system_attrs": t.system_attrs, "has_start": t.datetime_start is not None}
    d |= {"has_complete": t.datetime_complete is not None}
    d["intermediate"] = {k: ("nan" if math.isnan(v) else v) for k, v in t.intermediate_values.items()}
    return d


def test_same_trials_and_errors_as_optuna(url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    fast = get_storage(url)
    assert isinstance(fast, FastRDBStorage)
    plain = optuna.storages.RDBStorage(url)
    want, want_errors = _script(plain, f"plain-{tag}")
    got, got_errors = _script(fast, f"fast-{tag}")
    try:
        assert [_comparable(t) for t in got] == [_comparable(t) for t in want]
        assert got_errors == want_errors and len(got_errors) == 11
        # each storage reads what the other wrote, trial by trial and as a whole study
        for t in got:
            assert _comparable(plain.get_trial(compat.trial_id(t))) == _comparable(fast.get_trial(compat.trial_id(t)))
        a = got[0]
        assert a.intermediate_values[4] == 0.8 and math.isnan(a.intermediate_values[1])
        assert a.intermediate_values[2] == math.inf and a.intermediate_values[3] == -math.inf
        assert a.params == {"lr": pytest.approx(0.01), "depth": 5, "model": "mlp"}
        assert a.user_attrs == {"fold_scores": {"replaced": True}, "note": "é ✓"}
        assert [t.number for t in got] == [0, 1, 2, 3, 0]
        assert got[3].state == TrialState.RUNNING and got[3].user_attrs == {"retry_of": 0}
        assert got[3].params == {"lr": 0.05} and got[2].state == TrialState.FAIL
        assert got[4].values == [math.inf, -math.inf]
        # datetimes come back as Optuna's: naive local time, equal to what RDBStorage reads
        assert (
            fast.get_trial(compat.trial_id(a)).datetime_complete
            == plain.get_trial(compat.trial_id(a)).datetime_complete
        )
    finally:
        for name in (f"plain-{tag}", f"fast-{tag}", f"plain-{tag}-mo", f"fast-{tag}-mo"):
            optuna.delete_study(study_name=name, storage=plain)


def test_filtered_reads_match_optuna(url: str) -> None:
    """``_get_trials`` (:func:`compat.get_trials_filtered`) with states, and with the included-ids/newer-than filter Optuna's read cache uses."""
    name = f"filtered-{uuid.uuid4().hex[:8]}"
    fast = get_storage(url)
    assert isinstance(fast, FastRDBStorage)
    plain = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name=name, storage=fast, direction="minimize")
    try:
        for i in range(12):
            t = study.ask()
            x = t.suggest_float("x", 0, 1)
            t.report(x, 0)
            if i % 3 == 0:
                study.tell(t, x)
            elif i % 3 == 1:
                study.tell(t, state=TrialState.PRUNED)
        sid = compat.study_id(study)
        ids = [compat.trial_id(t) for t in study.get_trials(deepcopy=False)]
        for states in (None, (TrialState.RUNNING,), (TrialState.COMPLETE, TrialState.PRUNED)):
            for included, greater in ((set(), -1), ({ids[1], ids[4]}, ids[6]), (set(), ids[8])):
                got = compat.get_trials_filtered(fast, sid, states, included, greater)
                want = compat.get_trials_filtered(plain, sid, states, included, greater)
                assert [_comparable(t) for t in got] == [_comparable(t) for t in want]
        assert len(compat.get_trials_filtered(fast, sid, (TrialState.RUNNING,), set(), -1)) == 4
        # through Optuna's read cache (what create_study/load_study wrap the storage in)
        assert [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))] == [0, 3, 6, 9]
    finally:
        optuna.delete_study(study_name=name, storage=plain)


def test_concurrent_asks_get_distinct_numbers(url: str) -> None:
    """Workers asking at once: every trial gets its own number, 0..n-1, as with Optuna's storage."""
    name = f"numbers-{uuid.uuid4().hex[:8]}"
    storage = get_storage(url)
    optuna.create_study(study_name=name, storage=storage)
    try:

        def ask_some(_: int) -> None:
            study = optuna.load_study(study_name=name, storage=get_storage(url))
            for _ in range(5):
                t = study.ask()
                study.tell(t, t.suggest_float("x", 0, 1))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(ask_some, range(4)))
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert sorted(t.number for t in trials) == list(range(20))
        assert all(t.state == TrialState.COMPLETE for t in trials)
        assert all(t.datetime_start and t.datetime_complete and t.datetime_complete >= t.datetime_start for t in trials)
    finally:
        optuna.delete_study(study_name=name, storage=storage)


def _claim(url: str, trial_ids: list[int], start: float) -> list[int]:
    import time

    storage = get_storage(url)
    time.sleep(max(0.0, start - time.time()))
    return [tid for tid in trial_ids if storage.set_trial_state_values(tid, TrialState.RUNNING)]


def test_an_enqueued_trial_is_claimed_by_exactly_one_of_two_processes(url: str) -> None:
    """Two worker processes popping the same WAITING trials at the same moment: each trial runs once. (On SQLite a
    read-then-update let both processes take trial 0 of a portfolio-seeded study.)"""
    import multiprocessing
    import time

    name = f"claim-{uuid.uuid4().hex[:8]}"
    storage = get_storage(url)
    study = optuna.create_study(study_name=name, storage=storage)
    try:
        for i in range(150):
            study.enqueue_trial({"x": float(i)})
        ids = [compat.trial_id(t) for t in study.get_trials(deepcopy=False)]
        start = time.time() + 1.5
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            got = pool.starmap(_claim, [(url, ids, start), (url, ids, start)])
        assert sorted(got[0] + got[1]) == sorted(ids)  # every trial claimed, none twice
        finished = ids[0]
        storage.set_trial_state_values(finished, TrialState.COMPLETE, [1.0])
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_state_values(finished, TrialState.RUNNING)
    finally:
        optuna.delete_study(study_name=name, storage=storage)


def test_params_through_optunas_read_cache(url: str) -> None:
    """Optuna's read cache calls ``_set_trial_param`` with the distribution it has seen: still checked, still stored."""
    name = f"cached-{uuid.uuid4().hex[:8]}"
    fast = get_storage(url)
    study = optuna.create_study(study_name=name, storage=fast)
    cached = compat.study_storage(study)
    assert type(cached).__name__ == "_CachedStorage"
    try:
        a, b = study.ask(), study.ask()
        a.suggest_float("x", 0, 1)
        with pytest.raises(ValueError, match="Cannot set different distribution kind"):
            cached.set_trial_param(compat.trial_id(b), "x", 1, CategoricalDistribution(["p", "q"]))
        b.suggest_float("x", 0, 1)
        b.suggest_int("n", 1, 9)
        plain = optuna.storages.RDBStorage(url)
        assert plain.get_trial(compat.trial_id(b)).params == b.params and set(b.params) == {"x", "n"}
        assert plain.get_trial(compat.trial_id(a)).distributions == {"x": FloatDistribution(0, 1)}
    finally:
        optuna.delete_study(study_name=name, storage=fast)
