"""The final model as an ensemble of trials: greedy selection with replacement on out-of-fold predictions.

- :mod:`automl.ensemble.store`: the workers keep the best trials' out-of-fold predictions on disk;
- :mod:`automl.ensemble.selection`: Caruana et al.'s (2004) greedy ensemble selection;
- :mod:`automl.ensemble.estimator`: the fitted ensemble as one scikit-learn estimator;
- :mod:`automl.ensemble.build`: what ``retrain_best`` runs (imports the objective; not re-exported here,
  so that unpickling a model, which imports this package, needs no more than numpy and scikit-learn).
"""

from automl.ensemble.estimator import ensemble_estimator
from automl.ensemble.selection import Selection, greedy_selection
from automl.ensemble.store import OofStore

__all__ = ["OofStore", "Selection", "ensemble_estimator", "greedy_selection"]
