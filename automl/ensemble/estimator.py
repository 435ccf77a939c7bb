"""The fitted ensemble as one scikit-learn estimator: soft voting over the members with the selection's weights.

scikit-learn's ``VotingClassifier(voting="soft")`` averages the members' class probabilities with the
given weights (``predict_proba``, ``classes_``, ``predict`` as the argmax); ``VotingRegressor`` averages
their predictions. Fitting it fits a clone of each member on all rows, as ``fit_final`` does for one trial.
"""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import VotingClassifier, VotingRegressor


def ensemble_estimator(task: str, members: list[tuple[str, Any]], weights: list[float]) -> Any:
    """An unfitted weighted ensemble of the named unfitted ``members``."""
    if len(members) != len(weights) or not members:
        raise ValueError("an ensemble needs one weight per member and at least one member")
    if task == "classification":
        return VotingClassifier(members, voting="soft", weights=weights)
    return VotingRegressor(members, weights=weights)
