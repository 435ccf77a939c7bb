"""Zero-shot start: a small built-in portfolio of configurations per model family, tried first.

Why: the sampler's first trials are random (TPE's startup trials), and on a short budget a study
may spend much of its time there. FLAML and auto-sklearn 2.0 start instead from configurations known
to do well across many datasets. Ours are in ``portfolio.json`` beside this module, per family and
task, in the order they are tried.

How the file is built (``scripts/build_portfolio.py``; its header records the command, date, commit
and datasets): on datasets that are *not* in the quality benchmark, every candidate configuration of
a family (a scrambled Sobol sample of the family's search space plus the library's defaults) is
cross-validated with the product's own trial evaluation (``automl.objective.evaluate_trial``, no
pruning). Each dataset's scores become regrets scaled to [0, 1] between the best and the worst
candidate on that dataset (:func:`normalized_regret`); the portfolio is then chosen greedily, each
step adding the candidate that lowers the mean over datasets of the best regret in the portfolio so
far (:func:`greedy_portfolio`, the construction of auto-sklearn 2.0, Feurer et al. 2022, sec. 4.1).

How a study uses it (``seed_portfolio``, called by ``create_study`` after the warm start): for each
family of ``model_space`` that the file covers for the study's task, the first
``portfolio.per_family`` configurations, the families interleaved (every family's first, then every
family's second, ...), clipped into the study's search space (its overrides), skipping any the warm
start already enqueued, and always leaving at least one trial of ``budget.n_trials`` to the sampler.
Enqueued trials carry the user attribute ``portfolio`` ("family/task/position"). A retried
``create_study`` enqueues nothing twice, and a study that already ran trials is not seeded again.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.config import StudyConfig
from automl.meta.knowledge import fit_to_space, search_space

log = logging.getLogger("automl.meta")

PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")
#: the user attribute that marks a portfolio trial ("family/task/position")
MARK = "portfolio"


@cache
def load_portfolio(path: Path = PORTFOLIO_FILE) -> dict[str, Any]:
    """The shipped portfolio document (``families``: family -> task -> list of parameter dicts)."""
    doc: dict[str, Any] = json.loads(path.read_text())
    if doc.get("format") != 1 or not isinstance(doc.get("families"), dict):
        raise ValueError(f"{path}: not a portfolio document of format 1")
    return doc


def portfolio_configs(config: StudyConfig, doc: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(family, mark, the trial's flat parameters) in the order a study of ``config`` tries them."""
    families = (doc or load_portfolio())["families"]
    multi = len(config.model_space) > 1
    queues = []
    for family in config.model_space:
        entries = families.get(family, {}).get(config.task, [])[: config.portfolio.per_family]
        queue = []
        for i, params in enumerate(entries):
            flat = {(f"{family}__{k}" if multi else k): v for k, v in params.items()}
            if multi:
                flat["model"] = family
            queue.append((family, f"{family}/{config.task}/{i}", flat))
        queues.append(queue)
    out: list[tuple[str, str, dict[str, Any]]] = []
    for rank in range(max((len(q) for q in queues), default=0)):  # every family's first, then second, ...
        out.extend(q[rank] for q in queues if rank < len(q))
    return out


def seed_portfolio(config: StudyConfig, study: optuna.Study) -> list[str]:
    """Enqueue the portfolio's configurations for this study; return the marks of those enqueued (or, on a
    retry, of those enqueued the first time)."""
    if not config.portfolio.enabled or config.sampler == "grid" or config.nas.solver == "darts":
        return []
    existing = study.get_trials(deepcopy=False)
    marked = [t.user_attrs[MARK] for t in existing if MARK in t.user_attrs]
    if marked:
        return marked  # a retried create_study: seeded the first time
    if any("warm_start_from" not in t.user_attrs for t in existing):
        return []  # a study that already ran trials of its own is resumed, not seeded
    dists = search_space(config)
    # an enqueued trial's parameters are its "fixed_params" until it runs
    seen = {json.dumps(t.system_attrs.get("fixed_params", t.params), sort_keys=True) for t in existing}
    room = max(config.budget.n_trials - 1 - len(existing), 0)  # at least one trial is the sampler's
    seeded: list[str] = []
    for _family, mark, flat in portfolio_configs(config):
        if len(seeded) >= room:
            break
        params = fit_to_space(flat, dists)
        key = json.dumps(params, sort_keys=True)
        if params is None or key in seen:
            continue
        seen.add(key)
        study.enqueue_trial(params, user_attrs={MARK: mark})
        seeded.append(mark)
    if seeded:
        log.info("portfolio: enqueued %d configurations (%s)", len(seeded), ", ".join(seeded))
    return seeded


# ------------------------------------------------------------------ building (scripts/build_portfolio.py)
def normalized_regret(scores: np.ndarray, maximize: bool | list[bool]) -> np.ndarray:
    """Per dataset (row), each candidate's (column) regret scaled to [0, 1]: 0 the best candidate, 1 the
    worst; a failed candidate (NaN) counts as the worst. A dataset where all candidates tie is all 0."""
    s = np.asarray(scores, dtype=float)
    signs = np.where(np.broadcast_to(np.asarray(maximize), (s.shape[0],)), 1.0, -1.0)[:, None]
    gain = s * signs  # higher is better on every row
    best = np.nanmax(np.where(np.isnan(gain), -np.inf, gain), axis=1, keepdims=True)
    worst = np.nanmin(np.where(np.isnan(gain), np.inf, gain), axis=1, keepdims=True)
    span = np.where(best - worst > 0, best - worst, 1.0)
    regret = (best - gain) / span
    return np.where(np.isnan(regret), 1.0, np.clip(regret, 0.0, 1.0))


def greedy_portfolio(regret: np.ndarray, k: int) -> list[int]:
    """``k`` candidate columns (fewer when there are fewer) chosen greedily: each step adds the one that most
    lowers the mean over datasets of the smallest regret among those chosen; ties (once every dataset has a
    regret-0 member, every step ties) go to the lower mean regret on its own, then to the lower index."""
    r = np.asarray(regret, dtype=float)
    alone = r.mean(axis=0)
    chosen: list[int] = []
    current = np.full(r.shape[0], np.inf)
    for _ in range(min(k, r.shape[1])):
        means = np.minimum(current[:, None], r).mean(axis=0)
        means[chosen] = np.inf
        pick = int(np.lexsort((np.arange(r.shape[1]), alone, means))[0])
        chosen.append(pick)
        current = np.minimum(current, r[:, pick])
    return chosen
