"""AutoML logic with no Airflow imports.

Submodules are imported lazily by their users: ``automl.config`` is imported at
DAG-parse time and must stay light, the rest pulls in pandas, optuna,
scikit-learn, LightGBM and MLflow.
"""

__version__ = "0.1.0"
