"""Pruning: pure rules (ASHA, Hyperband of ASHA brackets, median) and their use
against the study storage (the stop signal, the worker's check, the sensor's pass)."""

from automl.pruning.asha import ASHAPruner, HyperbandPruner
from automl.pruning.base import CentralPruner, Decision, TrialCurve, promotable
from automl.pruning.median import MedianPruner
from automl.pruning.moasha import MOASHAPruner, VectorCurve, mo_promotable

__all__ = [
    "ASHAPruner",
    "CentralPruner",
    "Decision",
    "HyperbandPruner",
    "MOASHAPruner",
    "MedianPruner",
    "TrialCurve",
    "VectorCurve",
    "mo_promotable",
    "promotable",
]
