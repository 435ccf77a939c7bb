"""Stage ``create_study`` and the search phase's one shared pass (``pruning_pass``).

The trial slots themselves run ``python -m automl.worker`` (locally: the runner's processes;
on Airflow: mapped tasks or pods); the pass below is what the pruning sensor and the local
runner both run beside them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from mlflow.entities import RunTag
from optuna.trial import FrozenTrial, TrialState

from automl import tracking
from automl.families.space import effective_space
from automl.meta.knowledge import kb_tags, warm_start
from automl.meta.portfolio import seed_portfolio
from automl.pipeline.artifacts import (
    LoadedData,
    PassReport,
    RunContext,
    SearchChecked,
    SelectedFeatures,
    StudyHandle,
)
from automl.pruning.control import enforce, force_prune, overdue_stops
from automl.redact import redact
from automl.storage.lease import revoke_pod_lease
from automl.study import STOP_REASON, create_or_open, open_study, progress
from automl.urls import mlflow_ui_base

log = logging.getLogger("automl.pipeline")


def create_study(ctx: RunContext, data: LoadedData, features: SelectedFeatures) -> StudyHandle:
    """Create (or reopen) the Optuna study and the MLflow parent run; list the trial slots."""
    config, study_name = ctx.config, ctx.study_name
    tracking.check_reachable(config)  # both ends answer before anything is created: no half-made run
    study = create_or_open(config, study_name, data.fingerprint or None, data.started_at)
    report = json.loads(Path(features.report).read_text())
    parent = tracking.start_parent_run(
        config,
        study_name,
        ctx.runner,
        data.summary,
        {"n_generated": features.n_generated, "n_selected": features.n_selected, "report": report},
    )
    c = tracking.client(config)
    c.log_batch(parent, tags=[RunTag(k, v) for k, v in kb_tags(config, data.meta).items()])
    tracking.log_artifact(config, parent, Path(features.definitions), "features")
    c.log_dict(parent, effective_space(config), "search_space.json")  # the overrides applied
    seeded = warm_start(config, study, data.meta, exclude_run=parent)
    if seeded:
        sources = sorted({s["run_id"] for s in seeded})
        c.set_tag(parent, "automl.warm_start_sources", ",".join(sources))
        c.log_text(parent, json.dumps(seeded, indent=2, default=str), "meta/warm_start.json")
    portfolio = seed_portfolio(config, study)  # after the warm start: similar past studies come first
    if portfolio:
        c.set_tag(parent, "automl.portfolio", str(len(portfolio)))
        c.log_dict(parent, {"trials": portfolio}, "meta/portfolio.json")
    log.info(
        "study %s in %s; MLflow parent run %s; %d warm-start and %d portfolio trials",
        study_name,
        redact(config.storage_url),
        parent,
        len(seeded),
        len(portfolio),
    )
    return StudyHandle(
        study_name=study_name,
        parent_run_id=parent,
        experiment_id=tracking.experiment_id(config),
        mlflow_ui=mlflow_ui_base(config.mlflow_uri),
        config_path=ctx.config_path,
        train=features.train,
        slots=list(range(config.n_slots)),
        warm_start=len(seeded),
        portfolio=len(portfolio),
    )


class SearchIncomplete(RuntimeError):
    """The search did not do the work the run would report: nothing is retrained or registered."""


def check_search(ctx: RunContext, study: StudyHandle) -> SearchChecked:
    """The watcher: after every slot ended, the run goes on only if the study reached its trial budget
    (or its deadline, or stopped on ``budget.patience``) with fewer failed trials than
    ``budget.max_failed_trials``; otherwise it fails here."""
    config = ctx.config
    s = open_study(config, ctx.study_name)
    p = progress(s)
    n, budget = config.budget.n_trials, config.budget.failure_budget
    deadline = s.user_attrs.get("deadline")
    timed_out = deadline is not None and time.time() >= float(deadline)
    stopped = s.user_attrs.get(STOP_REASON)  # patience: the study ended itself (cleared on resume)
    problems = []
    if p.failed >= budget:
        problems.append(f"{p.failed} trials failed; the failure budget (budget.max_failed_trials) is {budget}")
    if p.finished < n and not timed_out and not stopped:
        problems.append(
            f"only {p.finished} of {n} trials ended before the time budget (a trial slot failed or was killed "
            "past its retries, or stopped on the failure budget)"
        )
        left = s.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if left:  # every slot has ended: which slot's trial was left running
            problems.append(
                "left running: "
                + ", ".join(f"trial {t.number} (slot key {t.user_attrs.get('slot_key', 'none')})" for t in left)
            )
    if p.complete == 0:
        problems.append("no trial completed")
        started = s.user_attrs.get("clock_started_at")
        if timed_out and deadline is not None and started is not None and config.budget.total_s:
            created = float(s.user_attrs["created_at"])
            problems.append(
                f"the end-to-end budget (budget.total_s = {config.budget.total_s} s) left the search "
                f"{float(deadline) - created:.0f} s after loading and features took {created - float(started):.0f} s: "
                "raise total_s"
            )
    if problems:
        raise SearchIncomplete(f"study {ctx.study_name}: {'; '.join(problems)} ({p.line()}); nothing is registered")
    ended = ", deadline reached" if timed_out else f", stopped early: {stopped}" if stopped else ""
    log.info("search checked: %s (%d of %d trials%s)", p.line(), p.finished, n, ended)
    return SearchChecked(complete=p.complete, pruned=p.pruned, failed=p.failed, n_trials=n, deadline_reached=timed_out)


def pruning_pass(ctx: RunContext, stop_process: Callable[[FrozenTrial], list[str]] | None = None) -> PassReport:
    """One pass of the central pruning manager (the sensor's poke): stale trials, time budget, the rule.

    ``stop_process`` enforces stop signals: a trial still running ``pruning.stop_grace_s`` after it
    was told to stop is ended PRUNED and ``stop_process(trial)`` stops its process (on Kubernetes:
    deletes its pod) and returns what it stopped. Without it, such trials are only reported.
    """
    config = ctx.config
    study = open_study(config, ctx.study_name)
    report = enforce(study, config)
    for number in report.stale_failed:
        log.warning(
            "trial %d: heartbeat stale for %d s; failed, its parameters retried once",
            number,
            config.pruning.stale_after_s,
        )
    for number, reason in report.stopped.items():
        log.info("trial %d told to stop: %s", number, reason)
    enforced: dict[str, list[str]] = {}
    grace = config.pruning.stop_grace_s
    for t in overdue_stops(study, grace):
        if stop_process is None:
            log.warning("trial %d still runs %d s after it was told to stop", t.number, grace)
        elif force_prune(study, t, f"ignored its stop signal for {grace} s"):
            stopped = stop_process(t)
            enforced[str(t.number)] = stopped
            key = t.user_attrs.get("slot_key")
            for pod in stopped if key else []:  # a deleted pod renews no lease: its slot's retry need not wait
                revoke_pod_lease(study, int(str(key).split(":")[0]), pod)
            log.warning("trial %d ignored its stop signal for %d s: ended PRUNED, stopped %s", t.number, grace, stopped)
    p = progress(study)
    return PassReport(
        **asdict(p),
        finished=p.finished,
        line=p.line(),
        n_trials=config.budget.n_trials,
        stale_failed=list(report.stale_failed),
        stopped={str(k): v for k, v in report.stopped.items()},
        enforced=enforced,
        budget_spent=report.budget_spent,
    )
