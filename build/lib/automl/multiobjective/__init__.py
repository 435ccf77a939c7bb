"""Multi-objective search: Pareto math (pure), objectives and constraints of a study, the front report."""

from automl.multiobjective.pareto import (
    crowding_distance,
    dominates,
    hypervolume,
    knee_point,
    non_dominated_ranks,
    pareto_mask,
    to_losses,
)

__all__ = [
    "crowding_distance",
    "dominates",
    "hypervolume",
    "knee_point",
    "non_dominated_ranks",
    "pareto_mask",
    "to_losses",
]
