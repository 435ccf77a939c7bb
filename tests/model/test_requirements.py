"""The model's requirements come from what the estimator refers to: torch only for a torch family."""

from __future__ import annotations

import pytest

from automl.families.space import get_family
from automl.model.build import requirements


@pytest.mark.parametrize(
    ("family", "present", "absent"),
    [
        ("lightgbm", {"lightgbm"}, {"torch"}),
        ("logistic_regression", set(), {"lightgbm", "torch"}),
        ("torch_mlp", {"torch"}, {"lightgbm"}),
    ],
)
def test_requirements_follow_the_estimator(family: str, present: set[str], absent: set[str]) -> None:
    reqs = requirements(get_family(family).pipeline({}, "classification", 0))
    names = {r.split("==")[0].lower() for r in reqs}
    base = {"mlflow", "pandas", "numpy", "scikit-learn", "featuretools", "woodwork", "joblib", "setuptools"}
    assert base | present <= names
    assert not names & (absent | {"optuna", "apache-airflow"})
