"""Model families: what a trial may train, how it is cross-validated, and how it is refit.

One module per family (``automl.families.lightgbm``, ...), a small abstract base
(:mod:`automl.families.base`), the multi-family search space (:mod:`automl.families.space`)
and the registry (:mod:`automl.families.registry`).

This package's ``__init__`` re-exports only the registry: ``automl.config`` imports it at
DAG-parse time, and the families themselves import scikit-learn and Optuna. Import
``ModelFamily`` from ``automl.families.base``; ``get_family``, ``ModelSpace`` and
``prepare_frame`` from ``automl.families.space``.
"""

from automl.families.registry import FAMILIES, FamilyEntry, family_names

__all__ = ["FAMILIES", "FamilyEntry", "family_names"]
