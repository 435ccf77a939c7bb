"""Study plots: every plot as a PNG and in the HTML report, pruned trials marked, the Pareto front."""

import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.plots import _intermediate_html, write_study_plots

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _single_objective_study() -> optuna.Study:
    study = optuna.create_study(study_name="plots1", direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    for i in range(8):
        trial = study.ask()
        lr = trial.suggest_float("learning_rate", 1e-3, 0.3, log=True)
        leaves = trial.suggest_int("num_leaves", 4, 64)
        for step in (10, 30, 90):
            trial.report(0.8 + 0.1 * math.tanh(step * lr) + leaves / 1000, step)
            if i % 3 == 2 and step == 30:
                study.tell(trial, state=TrialState.PRUNED)
                break
        else:
            study.tell(trial, 0.8 + 0.1 * math.tanh(90 * lr) + leaves / 1000)
    return study


def test_single_objective_study_gets_every_plot(tmp_path: Path) -> None:
    study = _single_objective_study()
    files = write_study_plots(study, tmp_path)
    names = {f.name for f in files}
    assert names == {
        "study_report.html",
        "optimization_history.png",
        "param_importances.png",
        "parallel_coordinate.png",
        "intermediate_values.png",
    }
    for f in files:
        assert f.stat().st_size > 2000, f
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "study_report.html").read_text()
    for title in ("optimization history", "param importances", "parallel coordinate", "intermediate values"):
        assert f"<h2>{title}</h2>" in report
    assert report.count("plotly.js v") <= 2  # plotly.js embedded once, not per plot


def test_pruned_trials_are_marked_where_they_stopped() -> None:
    study = _single_objective_study()
    fig = _intermediate_html(study)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(pruned) == 2
    markers = [tr for tr in fig.data if tr.mode == "markers"]
    assert sorted(tr.name for tr in markers) == sorted(f"trial {t.number} pruned at step 30" for t in pruned)
    assert all(tuple(tr.x) == (30,) and tr.marker.symbol == "x" for tr in markers)


def test_multi_objective_study_gets_a_pareto_front(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(1))
    study.set_metric_names(["roc_auc", "latency_ms"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1) + 1), n_trials=10)
    names = {f.name for f in write_study_plots(study, tmp_path)}
    assert {"pareto_front.png", "optimization_history.png", "study_report.html"} <= names
    assert "<h2>pareto front</h2>" in (tmp_path / "study_report.html").read_text()


def test_too_few_trials_skip_plots_instead_of_failing(tmp_path: Path) -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    names = {f.name for f in write_study_plots(study, tmp_path)}
    assert "param_importances.png" not in names and "optimization_history.png" in names
    with pytest.raises(ValueError, match="intermediate"):
        _intermediate_html(study)
