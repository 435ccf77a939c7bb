"""The final model as an ensemble of trials: greedy selection with replacement on out-of-fold predictions.

- :mod:`automl.ensemble.store`: the workers keep the best trials' out-of-fold predictions on disk;
- :mod:`automl.ensemble.selection`: Caruana et al.'s (2004) greedy ensemble selection;
- :mod:`automl.ensemble.estimator`: the fitted ensemble as one scikit-learn estimator (soft voting), so
  the registered model needs nothing of this package;
- :mod:`automl.ensemble.build`: what ``retrain_best`` runs.
"""

from automl.ensemble.build import Built, build_ensemble
from automl.ensemble.estimator import ensemble_estimator
from automl.ensemble.selection import Selection, greedy_selection
from automl.ensemble.store import OofStore

__all__ = ["Built", "OofStore", "Selection", "build_ensemble", "ensemble_estimator", "greedy_selection"]
