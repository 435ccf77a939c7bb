"""Champion/challenger: which registered version to use, decided on the new run's holdout.

The new version gets the alias ``challenger``. It takes ``champion`` only when it beats the current
champion on this run's holdout (the champion is scored there too, through its own pyfunc) by more
than ``registry.promote_margin``; the first version is champion. With ``registry.auto_promote: false``
an operator moves ``champion`` by hand and a run only reports what it would have done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from automl import tracking
from automl.config import StudyConfig
from automl.metrics.scoring import score_predictions
from automl.model.pyfunc import PREDICTION, PROBABILITY

log = logging.getLogger("automl.model")

CHAMPION, CHALLENGER = "champion", "challenger"
NOTE_HEADING = "**Registered model**"


@dataclass(frozen=True)
class Decision:
    """The outcome for one new version."""

    version: str
    score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str


def score_frame(metric: str, y: Any, predictions: pd.DataFrame) -> float:
    """Score a pyfunc's output frame: the ``probability_<label>`` columns for classification metrics."""
    from automl.metrics.registry import get_metric

    if get_metric(metric).classification:
        cols = [c for c in predictions.columns if c.startswith(PROBABILITY)]
        classes = np.asarray([c[len(PROBABILITY) :] for c in cols], dtype=object)
        return score_predictions(
            metric, np.asarray(y).astype(str).astype(object), predictions[cols].to_numpy(), classes
        )
    return score_predictions(metric, y, predictions[PREDICTION].to_numpy(dtype=float))


def score_version(config: StudyConfig, name: str, version: str, holdout: pd.DataFrame) -> float:
    """A registered version's score on raw holdout rows (the target column among them)."""
    target = config.dataset.target
    with tracking.global_uri(config):
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        predictions = model.predict(holdout.drop(columns=[target]))
    return score_frame(config.metric, holdout[target], predictions)


def _champion(config: StudyConfig, name: str) -> str | None:
    try:
        return str(tracking.client(config).get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def decide(config: StudyConfig, name: str, version: str, score: float, holdout: pd.DataFrame) -> Decision:
    """Compare the new version with the champion on this run's holdout (nothing is changed here)."""
    reg = config.registry
    current = _champion(config, name)
    metric = config.metric
    if current is None:
        return Decision(version, score, None, None, True, "first version of the model: it becomes champion")
    if current == version:
        return Decision(version, score, current, score, True, f"version {version} is already champion")
    try:
        champ_score: float | None = score_version(config, name, current, holdout)
    except Exception as err:  # the champion cannot read this data (its columns changed, say)
        msg = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        reason = f"champion version {current} cannot score this run's holdout ({msg})"
        return Decision(version, score, current, None, reg.auto_promote, reason)
    assert champ_score is not None
    sign = 1.0 if config.metric_direction == "maximize" else -1.0
    gain = sign * (score - champ_score)
    better = gain > reg.promote_margin
    compare = (
        f"holdout {metric}: version {version} {score:.6g} vs champion version {current} {champ_score:.6g} "
        f"(improvement {gain:+.6g}, margin {reg.promote_margin:g})"
    )
    if not reg.auto_promote:
        would = "would take" if better else "would not take"
        return Decision(
            version, score, current, champ_score, False, f"{compare}; auto_promote is off: it {would} champion"
        )
    verdict = "beats the champion: it becomes champion" if better else "does not beat the champion: champion kept"
    return Decision(version, score, current, champ_score, better, f"{compare}; {verdict}")


def apply(config: StudyConfig, name: str, decision: Decision, parent_run_id: str) -> None:
    """Move the aliases, tag the version with both scores and the decision, and write it in the parent run's note."""
    c = tracking.client(config)
    v = decision.version
    metric = config.metric
    c.set_registered_model_alias(name, CHALLENGER, v)
    if decision.promoted:
        c.set_registered_model_alias(name, CHAMPION, v)
    tags = {
        f"holdout_{metric}": str(decision.score),
        "champion_version": decision.champion_version or "",
        f"champion_holdout_{metric}": "" if decision.champion_score is None else str(decision.champion_score),
        "promotion": "champion" if decision.promoted else "challenger",
        "promotion_reason": decision.reason,
    }
    for key, value in tags.items():
        c.set_model_version_tag(name, v, key, value)
    note = c.get_run(parent_run_id).data.tags.get(tracking.TAG_NOTE, "")
    note = note.split(f"\n\n{NOTE_HEADING}")[0]
    line = f"{NOTE_HEADING} `{name}` version {v}: {'**champion**' if decision.promoted else 'challenger'}. {decision.reason}."
    c.set_tag(parent_run_id, tracking.TAG_NOTE, f"{note}\n\n{line}" if note else line)
    c.set_tag(
        parent_run_id, "automl.promotion", f"{'champion' if decision.promoted else 'challenger'}: {decision.reason}"
    )
    log.info("model %s version %s: %s", name, v, decision.reason)
