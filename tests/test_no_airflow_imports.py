"""automl/ and feature_engineering/ must import no Airflow module; DAG files import nothing heavy."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_logic_packages_import_no_airflow() -> None:
    code = (
        "import pkgutil, importlib, automl, feature_engineering\n"
        "for pkg in (automl, feature_engineering):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
    )
    mods = _modules_after(code)
    assert "automl.worker" in mods and "feature_engineering.selection" in mods
    leaked = sorted(m for m in mods if m == "airflow" or m.startswith("airflow."))
    assert not leaked, f"automl/feature_engineering imported Airflow: {leaked[:5]}"


def test_dag_file_parses_without_heavy_imports() -> None:
    code = f"import sys, runpy; sys.path.insert(0, {str(ROOT / 'plugins')!r}); runpy.run_path({str(ROOT / 'dags' / 'automl_studies.py')!r})"
    mods = _modules_after(code)
    heavy = sorted(
        {m.split(".")[0] for m in mods}
        & {"optuna", "lightgbm", "mlflow", "featuretools", "sklearn", "torch", "pandas", "woodwork"}
    )
    assert not heavy, f"DAG parse imported {heavy}"
