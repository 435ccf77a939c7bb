"""The registered model: a self-contained MLflow pyfunc (raw rows in, predictions out), how it is
built and logged (:mod:`automl.model.build`), champion/challenger promotion (:mod:`automl.model.champion`),
batch scoring (:mod:`automl.model.scoring`) and what drives it (:mod:`automl.model.importance`).

Only the pyfunc's names are imported here: the model ships this package and loads it where only
its own requirements are installed. The other modules are imported by their users.
"""

from automl.model.pyfunc import PREDICTION, PROBABILITY, AutoMLModel, probability_column

__all__ = ["PREDICTION", "PROBABILITY", "AutoMLModel", "probability_column"]
