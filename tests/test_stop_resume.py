"""Study-level stopping (budget.patience) and `automl run --resume STUDY`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from helpers import make_config
from optuna.trial import TrialState, create_trial

from automl.config import ConfigError
from automl.study import patience_stop


def _study(values: list[float | None]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    dist: dict[str, optuna.distributions.BaseDistribution] = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for v in values:
        state = TrialState.COMPLETE if v is not None else TrialState.PRUNED
        study.add_trial(create_trial(params={"x": 0.5}, distributions=dist, value=v, state=state))
    return study


def test_patience_counts_finished_trials_without_a_real_improvement() -> None:
    cfg = make_config(budget={"patience": 3, "min_delta": 0.01})
    assert patience_stop(cfg, _study([0.90, 0.905, None])) is None  # 2 without a gain > 0.01
    reason = patience_stop(cfg, _study([0.90, 0.905, None, 0.909]))
    assert reason is not None and "3 finished trials without improving the best roc_auc (0.9, trial 0)" in reason
    assert patience_stop(cfg, _study([0.90, 0.905, None, 0.95])) is None  # a real gain resets the count
    assert patience_stop(make_config(), _study([0.9] * 10)) is None  # no patience: never
    with pytest.raises(ConfigError, match="budget.patience: single-objective only"):
        make_config(
            budget={"patience": 2},
            multi_objective={"objectives": [{"name": "roc_auc"}, {"name": "latency_ms"}]},
            sampler="nsga2",
        )


@pytest.mark.slow
def test_patience_stops_then_resume_adds_trials_to_the_same_study_and_parent_run(
    tmp_path: Path, automl_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl import tracking
    from automl.cli import main
    from automl.config import load_config
    from automl.study import STOP_REASON, open_study

    path = tmp_path / "p.yaml"
    path.write_text(
        "name: patient\ndataset: {source: 'sklearn:breast_cancer', target: target}\ntask: classification\n"
        "metric: roc_auc\nmodel_space: [logistic_regression]\nsampler: random\npruning: {rule: none}\n"
        "features: {enabled: false, select: false}\nwarm_start: {enabled: false}\nportfolio: {enabled: false}\n"
        # min_delta 1: no later trial can improve on the first, so the study stops after 1 + patience trials
        "budget: {n_trials: 8, parallelism: 1, trials_per_slot: 8, cv_folds: 2, patience: 2, min_delta: 1.0}\n"
    )
    assert main(["run", str(path), "--quiet"]) == 0
    name = next(line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("study "))
    cfg = load_config(path)
    study = open_study(cfg, name)
    assert len(study.trials) == 3 and study.user_attrs[STOP_REASON].startswith("patience: 2 finished trials")
    parent = tracking.find_parent_run(cfg, name)
    assert parent is not None
    assert tracking.client(cfg).get_run(parent).data.tags["automl.stop_reason"] == study.user_attrs[STOP_REASON]

    assert main(["run", str(path), "--resume", name, "--n-trials", "2", "--quiet"]) == 0
    assert f"study {name}" in capsys.readouterr().out
    study = open_study(cfg, name)
    assert len(study.trials) == 5 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["slot_key"] for t in study.trials}) == 5
    assert tracking.find_parent_run(cfg, name) == parent
    exp = tracking.experiment_id(cfg)
    parents = tracking.client(cfg).search_runs([exp], filter_string="tags.`automl.role` = 'parent'")
    assert [r.info.run_id for r in parents] == [parent]
    children = tracking.client(cfg).search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [0, 1, 2, 3, 4]
    assert main(["run", str(path), "--resume", "other__x", "--quiet"]) == 2
    assert "not a study of config 'patient'" in capsys.readouterr().err
