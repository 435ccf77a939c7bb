"""One AutoML DAG per study config in ``dags/studies/*.yaml``.

Thin on purpose: the factory (``plugins/automl_airflow/factory.py``) imports
only Airflow's SDK and the config model at parse time.
"""

from pathlib import Path

from automl_airflow.factory import build_dags

globals().update(build_dags(Path(__file__).resolve().parent / "studies"))
