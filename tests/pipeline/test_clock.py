"""The end-to-end budget (``budget.total_s``): one clock for the whole run, started before the data is read;
the search ends early enough to leave ``final_share`` of it for the final fit; fitting CPU is measured apart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import make_config

from automl.study import open_study, search_deadline


def test_search_deadline_takes_the_earlier_end() -> None:
    now, start = 1000.0, 900.0
    assert search_deadline(make_config(), now) is None
    assert search_deadline(make_config(budget={"timeout_s": 60}), now, start) == 1060.0
    # total 100 s from 900, 20% kept for the final fit: the search ends at 980 (already 20 s before now)
    both = make_config(budget={"timeout_s": 60, "total_s": 100, "final_share": 0.2})
    assert search_deadline(both, now, start) == pytest.approx(980.0)
    # no clock start known (a resume): total_s counts from now
    assert search_deadline(make_config(budget={"total_s": 100, "final_share": 0.2}), now) == pytest.approx(1080.0)
    # the default share (15%) of a 10 s total from 900: 908.5, before timeout_s's 1005
    assert search_deadline(make_config(budget={"total_s": 10, "timeout_s": 5}), now, start) == pytest.approx(908.5)


def test_the_override_form_takes_total_s() -> None:
    assert make_config().with_overrides({"total_s": 90}).budget.total_s == 90


def test_the_clock_starts_before_the_data_is_read_and_bounds_the_run(automl_home: Path, tmp_path: Path) -> None:
    """The study's deadline counts from load_data's start (before its files exist), not from create_study; the
    run ends within its total budget plus a stated tolerance; fitting CPU is recorded per trial and per phase."""
    from automl.pipeline import LocalRunner

    total, share = 40, 0.25  # worker start-up alone took 15 s once, with image builds beside
    config = make_config(  # no DFS and no selection models: on a loaded 2-core machine they alone take 10-25 s
        model_space=["lightgbm"],
        budget={"n_trials": 400, "trials_per_slot": 200, "parallelism": 2, "total_s": total, "final_share": share},
        features={"enabled": False, "select": False},
        warm_start={"enabled": False},
    )
    from automl import tracking
    from automl.storage import get_storage

    tracking.experiment_id(config)  # a running platform has its stores: their schemas are made before the clock
    get_storage(config.storage_url)
    before = time.time()
    runner = LocalRunner(config, "clock", until="retrain_best")
    result = runner.run()
    end_to_end = sum(p.wall_s for p in result.phases.values())
    study = open_study(config, runner.ctx.study_name)
    attrs = study.user_attrs
    clock = float(attrs["clock_started_at"])
    loaded = result.outputs["load_data"]
    written = Path(loaded.train).stat().st_mtime  # type: ignore[attr-defined]
    assert before <= clock < written < float(attrs["created_at"])  # started before load_data wrote its split
    assert float(attrs["deadline"]) == pytest.approx(clock + total * (1 - share))
    # loading (with its meta-feature landmarkers) ran first: the search got less than total * (1 - share)
    assert float(attrs["deadline"]) - float(attrs["created_at"]) < total * (1 - share)
    # the budget holds end to end: the last trials are stopped at the deadline, the final fit is one model.
    # Tolerance 4 s: a running trial's stop is seen at its next report and the slots need to exit.
    assert end_to_end <= total + 4.0, {k: round(p.wall_s, 2) for k, p in result.phases.items()}
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    assert len(trials) >= 4
    fit = [t.user_attrs["fit_cpu_s"] for t in trials if "fit_cpu_s" in t.user_attrs]
    assert len(fit) >= len(trials) - 2 and all(f >= 0 for f in fit)
    # a trial's fitting CPU is at most its wall training time (one thread per trial), and most of it on real fits
    for t in trials:
        if "fit_cpu_s" in t.user_attrs and "train_seconds" in t.user_attrs:
            assert t.user_attrs["fit_cpu_s"] <= t.user_attrs["train_seconds"] + 0.05
    assert result.phases["retrain_best"].fit_cpu_s > 0  # the final fit is measured in the runner
    assert result.phases["load_data"].fit_cpu_s == 0.0  # reading and splitting is not fitting


def test_a_spent_budget_still_ends_with_a_model_late(automl_home: Path) -> None:
    """Loading alone takes longer than a 1 s total budget: the first trials still run to the end (a model, late),
    and no trial starts after one has completed."""
    from automl.pipeline import LocalRunner
    from automl.pipeline.artifacts import Retrained

    config = make_config(
        budget={"n_trials": 40, "trials_per_slot": 20, "parallelism": 2, "total_s": 1},
        features={"enabled": False, "select": False},
        warm_start={"enabled": False},
    )
    runner = LocalRunner(config, "late", until="retrain_best")
    result = runner.run()
    assert isinstance(result.outputs["retrain_best"], Retrained)
    assert result.outputs["check_search"].deadline_reached  # type: ignore[attr-defined]
    trials = open_study(config, runner.ctx.study_name).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert complete and len(trials) <= 2 * config.budget.parallelism  # the first ones, not 40
    first_done = min(t.datetime_complete for t in complete if t.datetime_complete is not None)
    started = [t for t in trials if t.state.name != "WAITING"]  # portfolio trials the deadline left unstarted
    assert all(t.datetime_start is not None and t.datetime_start < first_done for t in started)
