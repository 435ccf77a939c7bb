"""How the search runs: its budget, how poor trials are stopped, and warm starts from past studies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from automl.config.base import PrunerName, PruningMode, _Strict


class BudgetConfig(_Strict):
    """How many trials run, how long, how many at once, and how long each may train."""

    n_trials: int = Field(20, ge=1, le=100_000, description="trials in the study")
    timeout_s: int | None = Field(None, ge=1, description="time budget for the trial phase")
    total_s: int | None = Field(
        None,
        ge=1,
        description="end-to-end time budget of a run, shared by its stages: the clock starts when load_data "
        "starts (before the data is read) and covers features, selection, the search and retrain_best (the "
        "final model or ensemble); no trial starts after total_s * (1 - final_share), so that the rest is "
        "left for the final fit. With timeout_s too, the earlier of the two ends the search. A run always ends "
        "with a model: until a first trial completed the deadline stops no trial (the run is late, not empty)",
    )
    final_share: float = Field(
        0.15,
        ge=0.0,
        lt=0.9,
        description="total_s: the share of the end-to-end budget kept for retrain_best (MLflow sync, the final "
        "fit or the ensemble's refits) after the search",
    )
    overrun_s: float = Field(
        5.0,
        ge=0.0,
        description="with a deadline (total_s or timeout_s): a trial still running this many seconds after it is "
        "ended by its own worker, PRUNED, and the slot's process exits (a family that reports rarely, such as a "
        "random forest once per fold, would otherwise run on past the budget); as everywhere, only once a first "
        "trial has completed",
    )
    parallelism: int = Field(2, ge=1, le=1024, description="trial slots running at once")
    trials_per_slot: int = Field(1, ge=1, le=1000, description="trials each slot runs one after another")
    max_failed_trials: int | None = Field(
        None,
        ge=1,
        description="once this many trials failed, no further trial starts and the run fails "
        "(default: more than half of n_trials: n_trials // 2 + 1)",
    )
    cv_folds: int = Field(3, ge=2, le=20, description="cross-validation folds per trial")
    max_rounds: int = Field(300, ge=1, le=100_000, description="LightGBM: most boosting rounds per fold")
    report_every: int = Field(10, ge=1, description="LightGBM: rounds between intermediate reports")
    early_stopping_rounds: int = Field(50, ge=1, description="LightGBM: stop after this many rounds without gain")
    max_epochs: int = Field(30, ge=1, le=10_000, description="torch: most epochs per fold")
    early_stopping_epochs: int = Field(8, ge=1, description="torch: stop after this many epochs without gain")
    patience: int | None = Field(
        None,
        ge=1,
        description="stop the study (no further trial starts) after this many finished trials without improving "
        "the best value by more than min_delta; the reason is a tag of the MLflow parent run (single-objective)",
    )
    min_delta: float = Field(0.0, ge=0.0, description="patience: the smallest change of the best value that counts")

    @property
    def failure_budget(self) -> int:
        """Failed trials that stop the study (``max_failed_trials``, else more than half of ``n_trials``)."""
        return self.max_failed_trials if self.max_failed_trials is not None else self.n_trials // 2 + 1


class PruningConfig(_Strict):
    """How poor trials are stopped.

    ``mode: central``: the pruning sensor applies the rule to the study storage and
    writes a stop signal that the worker sees at its next report (the worker also
    applies the same rule at each report when ``worker_check`` is on, so pruning
    works when trials and sensor cannot run at the same time, e.g. ``dag.test()``).
    ``mode: in_trial``: Optuna's own pruner of the same rule inside the trial.
    """

    rule: PrunerName = Field("asha", description="the pruning rule ('none' trains every trial to the end)")
    mode: PruningMode = Field(
        "central", description="apply the rule centrally from the study storage, or with Optuna's pruner in the trial"
    )
    worker_check: bool = Field(True, description="central mode: workers also apply the rule at each report")
    n_startup_trials: int = Field(5, ge=0, description="median: trials before pruning starts")
    min_resource: int | None = Field(
        None,
        ge=1,
        description="asha/hyperband: step of the first rung; default: chosen by the searched model families "
        "(their first report, or max_epochs // reduction_factor epochs for neural networks)",
    )
    # 4 (Optuna's SuccessiveHalvingPruner default too): in benchmarks.pruning, 5 seeds x 3 studies, eta 4 saved
    # 77.3% of training steps at a 0.051% mean best-CV loss per study; eta 3 saved 73.2% at 0.068%
    reduction_factor: int = Field(4, ge=2, description="asha/hyperband: keep the top 1/eta at each rung")
    min_trials_at_rung: int = Field(1, ge=1, description="asha: a rung judges only once this many trials reached it")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="mode in_trial: keyword arguments of Optuna's pruner for the rule (MedianPruner, "
        "SuccessiveHalvingPruner, HyperbandPruner), over the fields above",
    )
    rung_value: Literal["current", "best"] = Field(
        "current", description="asha: compare the value on reaching a rung (as Optuna does), or the best value up to it"
    )
    heartbeat_interval_s: int = Field(10, ge=1, description="how often a running trial records that it is alive")
    stale_after_s: int = Field(
        60, ge=2, description="a running trial without a heartbeat this long is failed and retried"
    )
    poke_interval_s: int = Field(10, ge=1, description="how often the sensor reads the study storage")
    stop_grace_s: int = Field(
        60,
        ge=1,
        description="a trial told to stop and still running this long after is ended by the sensor "
        "(Kubernetes: its pod is deleted) and marked PRUNED",
    )

    @model_validator(mode="after")
    def _grace(self) -> PruningConfig:
        if self.stale_after_s <= self.heartbeat_interval_s:
            raise ValueError("stale_after_s must be longer than heartbeat_interval_s")
        if self.options and (self.mode != "in_trial" or self.rule == "none"):
            raise ValueError(
                "options are keyword arguments of Optuna's pruner: they need mode 'in_trial' and a rule other "
                "than 'none' (central mode is set with min_resource, reduction_factor, ...)"
            )
        return self


class WarmStartConfig(_Strict):
    """Meta-learning: seed a new study with the best configurations of similar past studies."""

    enabled: bool = Field(True, description="seed the study from similar past studies")
    k: int = Field(3, ge=1, le=50, description="nearest past studies to use")
    configs_per_neighbour: int = Field(3, ge=1, le=50, description="best configurations taken from each")
    experiments: list[str] = Field(default_factory=list, description="only these MLflow experiments (default: all)")
    max_distance: float | None = Field(
        0.25,
        gt=0,
        description="ignore past studies farther than this (normalized meta-feature distance; "
        "a resample of the same data is ~0.03 away, a different dataset ~0.5); null: no limit",
    )


class PortfolioConfig(_Strict):
    """Zero-shot start: configurations that did well across other datasets, tried before the sampler takes over."""

    enabled: bool = Field(
        True,
        description="enqueue the built-in portfolio (automl/meta/portfolio.json: per family and task, "
        "chosen offline on datasets outside the benchmark) after any warm-start configurations",
    )
    per_family: int = Field(
        4, ge=1, le=16, description="portfolio configurations per model family (taken in the portfolio's order)"
    )


class EnsembleConfig(_Strict):
    """The final model as a weighted ensemble of trials (greedy selection with replacement, Caruana et al. 2004)."""

    size: int = Field(
        1,
        ge=1,
        le=200,
        description="rounds of greedy ensemble selection (with replacement) over the best trials' out-of-fold "
        "predictions; the final model averages the selected trials, each refit on all training rows, weighted "
        "by how often it was picked (single-objective studies only). 1: no ensemble, the best trial alone; the "
        "default: on three small datasets the ensemble beat the best trial's holdout score in 4 of 9 runs "
        "at size 10 (3 ties, 2 losses) and 2 of 9 at size 25 (docs/benchmarks.md)",
    )
    max_candidates: int = Field(
        20,
        ge=2,
        le=200,
        description="how many of the best completed trials keep their out-of-fold predictions (one .npy file each "
        "in the run's oof/ folder, written by the workers) as ensemble candidates",
    )
