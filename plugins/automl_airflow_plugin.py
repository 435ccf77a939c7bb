"""Registers the AutoML plugin when Airflow loads it from this plugins folder (a source checkout).

An installed ``airflow-automl`` registers the same plugin through its ``airflow.plugins`` entry point;
Airflow reports a second registration of one name as a plugin import error, so this file defers to the
entry point when the package declares one. (``.airflowignore`` keeps Airflow from loading
``automl_airflow/automl_plugin.py`` itself from this folder.)
"""

from __future__ import annotations

from importlib.metadata import entry_points

if not any(ep.value.startswith("automl_airflow.") for ep in entry_points(group="airflow.plugins")):
    from automl_airflow.automl_plugin import AutoMLPlugin  # noqa: F401
