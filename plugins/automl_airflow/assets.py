"""Airflow Assets the study DAGs produce: one per study, the registered model."""

from __future__ import annotations

from airflow.sdk import Asset


def model_asset(study_name: str) -> Asset:
    """The Asset a study's register_model task emits when it registered a model version."""
    return Asset(f"automl://{study_name}/model")
