"""Airflow-only parts of the platform: the DAG factory, the pruning sensor, Kubernetes trial pods,
and the embedded-run helper used by ``make demo`` and the tests.

Airflow's plugin manager imports every ``.py`` file under the plugins folder by its file name,
so no module here may share a name with a top-level package (``kubernetes.py`` would shadow the
Kubernetes client).
"""
