"""The meta-learning knowledge base is MLflow itself.

Every finished study's parent run carries tags ``meta.<name>`` (its dataset's
meta-features), ``automl.task``, ``automl.metric``, ``automl.model_space`` and,
once the study has ended, an artifact ``meta/top_configs.json`` and the tag
``automl.kb = true``. Any team's studies on the same tracking server are
candidates; a config may restrict the search to named experiments.

A new study finds the k nearest finished studies with the same task and model
space and enqueues their best configurations (de-duplicated, clipped to the new
search space) as its first trials.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from automl.config import StudyConfig
from automl.families.space import ModelSpace
from automl.meta.features import NAMES, distance
from automl.storage import compat
from automl.study import ranked_trials
from automl.tracking import client

log = logging.getLogger("automl.meta")

TOP_CONFIGS = "meta/top_configs.json"


def kb_tags(config: StudyConfig, meta: dict[str, float]) -> dict[str, str]:
    return {
        **{f"meta.{k}": str(v) for k, v in meta.items()},
        "automl.task": config.task,
        "automl.metric": config.metric,
        "automl.model_space": ",".join(sorted(config.model_space)),
    }


def record_study(config: StudyConfig, parent_run_id: str, study: optuna.Study, top_k: int = 10) -> int:
    """Publish a finished study's best configurations to the knowledge base (idempotent)."""

    i = config.objective_names.index(config.metric)  # multi-objective: ranked by the metric, feasible only
    top = [{"params": t.params, "value": t.values[i], "trial": t.number} for t in ranked_trials(study)[:top_k]]
    c = client(config)
    c.log_text(
        parent_run_id,
        json.dumps({"metric": config.metric, "direction": config.metric_direction, "configs": top}, indent=2),
        TOP_CONFIGS,
    )
    c.set_tag(parent_run_id, "automl.kb", "true")
    return len(top)


@dataclass(frozen=True)
class Neighbour:
    run_id: str
    experiment_id: str
    study: str
    distance: float


def find_neighbours(config: StudyConfig, meta: dict[str, float], exclude_run: str | None = None) -> list[Neighbour]:
    """The k nearest finished studies with the same task, metric and model space."""

    ws = config.warm_start
    c = client(config)
    filt = (
        f"tags.`automl.kb` = 'true' and tags.`automl.task` = '{config.task}' "
        f"and tags.`automl.metric` = '{config.metric}' "
        f"and tags.`automl.model_space` = '{','.join(sorted(config.model_space))}'"
    )
    if ws.experiments:
        exp_ids = [e.experiment_id for name in ws.experiments if (e := c.get_experiment_by_name(name)) is not None]
    else:
        exp_ids = [e.experiment_id for e in c.search_experiments(max_results=50000)]
    runs = c.search_runs(exp_ids, filter_string=filt, max_results=5000) if exp_ids else []
    found = []
    for r in runs:
        if r.info.run_id == exclude_run:
            continue
        other = {k: float(r.data.tags[f"meta.{k}"]) for k in NAMES if f"meta.{k}" in r.data.tags}
        if len(other) != len(NAMES):
            continue
        d = distance(meta, other)
        if ws.max_distance is None or d <= ws.max_distance:
            found.append(Neighbour(r.info.run_id, r.info.experiment_id, r.data.tags.get("optuna.study_name", ""), d))
    found.sort(key=lambda n: n.distance)
    return found[: ws.k]


def search_space(config: StudyConfig) -> dict[str, BaseDistribution]:
    """Every parameter distribution of the config's model space (all families)."""
    space = ModelSpace.of(config)
    dists: dict[str, BaseDistribution] = {}
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for family in config.model_space:
        if len(config.model_space) > 1:
            probe.enqueue_trial({"model": family})
        trial = probe.ask()
        space.suggest(trial)
        dists.update(trial.distributions)
        probe.tell(trial, 0.0)
    return dists


def fit_to_space(params: dict[str, Any], dists: dict[str, BaseDistribution]) -> dict[str, Any] | None:
    """Clip a past configuration into the new search space; None when it cannot be used."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        dist = dists.get(name)
        if dist is None:
            continue  # a parameter the new space no longer has
        if isinstance(dist, CategoricalDistribution):
            if value not in dist.choices:
                return None
            out[name] = value
        elif isinstance(dist, IntDistribution | FloatDistribution):
            try:
                v = min(max(float(value), dist.low), dist.high)
            except (TypeError, ValueError):
                return None
            if isinstance(dist, IntDistribution):
                v = dist.low + round((v - dist.low) / dist.step) * dist.step
                out[name] = int(min(v, dist.high))
            else:
                if dist.step is not None:
                    v = min(dist.low + round((v - dist.low) / dist.step) * dist.step, dist.high)
                out[name] = v
    if "model" in dists and "model" not in out:
        return None
    return out or None


def warm_start(
    config: StudyConfig, study: optuna.Study, meta: dict[str, float], exclude_run: str | None = None
) -> list[dict[str, Any]]:
    """Enqueue the best configurations of the nearest past studies; return what seeded the study."""

    ws = config.warm_start
    if not ws.enabled:
        return []
    existing = study.get_trials(deepcopy=False)
    if existing:
        # a retry or re-run of create_study: the study was seeded (or started cold) the first time;
        # seeding again would enqueue trials beyond the budget
        return [t.system_attrs["automl:warm_start"] for t in existing if t.system_attrs.get("automl:warm_start")]
    neighbours = find_neighbours(config, meta, exclude_run)
    if not neighbours:
        log.info(
            "warm start: no finished study with task=%s, metric=%s, model space=%s%s; starting cold",
            config.task,
            config.metric,
            config.model_space,
            "" if ws.max_distance is None else f" within distance {ws.max_distance}",
        )
        return []
    dists = search_space(config)
    c = client(config)
    seeded: list[dict[str, Any]] = []
    seen: set[str] = set()
    budget = max(config.budget.n_trials - 1, 0)  # leave at least one trial to the sampler
    for n in neighbours:
        try:
            doc = json.loads(Path(c.download_artifacts(n.run_id, TOP_CONFIGS)).read_text())
        except Exception as err:  # a damaged knowledge-base entry must not stop a new study
            log.warning("warm start: cannot read configurations of run %s (%s); skipped", n.run_id, err)
            continue
        taken = 0
        for entry in doc.get("configs", []):
            if taken >= ws.configs_per_neighbour or len(seeded) >= budget:
                break
            params = fit_to_space(entry.get("params", {}), dists)
            key = json.dumps(params, sort_keys=True)
            if params is None or key in seen:
                continue
            seen.add(key)
            source = {
                "run_id": n.run_id,
                "study": n.study,
                "distance": round(n.distance, 4),
                "trial": entry.get("trial"),
            }
            study.enqueue_trial(params, user_attrs={"warm_start_from": n.run_id})
            waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
            compat.study_storage(study).set_trial_system_attr(compat.trial_id(waiting[-1]), "automl:warm_start", source)
            seeded.append(source)
            taken += 1
    log.info(
        "warm start: enqueued %d configurations from %d similar studies: %s",
        len(seeded),
        len(neighbours),
        ", ".join(f"{n.study or n.run_id} (distance {n.distance:.3f})" for n in neighbours),
    )
    return seeded
