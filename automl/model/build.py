"""Build and log the self-contained pyfunc model of a run: its files, signature, example and requirements."""

from __future__ import annotations

import importlib.metadata as md
import io
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from automl.config import StudyConfig, is_uri
from automl.model.pyfunc import ESTIMATOR, FEATURES, SPEC, AutoMLModel

ROOT = Path(__file__).resolve().parents[2]
#: the platform code the model imports, shipped with it (MLflow ``code_paths``)
CODE_PATHS = [ROOT / "automl", ROOT / "feature_engineering"]
#: what the pyfunc itself imports (featuretools brings woodwork; woodwork imports pkg_resources)
BASE_REQUIREMENTS = ("mlflow", "pandas", "numpy", "scikit-learn", "joblib", "featuretools", "woodwork", "setuptools")
#: platform modules an estimator may reference (shipped as code) -> the distributions they import
SHIPPED_NEEDS = {"automl.nas": ("torch",)}
INPUT_EXAMPLE_ROWS = 5


def referenced_modules(estimator: Any) -> set[str]:
    """The modules the pickled estimator refers to (what unpickling it imports)."""
    found: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            found.add(module)
            return super().find_class(module, name)

    Recorder(io.BytesIO(pickle.dumps(estimator))).load()
    return found


def requirements(estimator: Any) -> list[str]:
    """``name==version`` of the distributions the model needs, at the versions installed here.

    The pyfunc's own imports, the top-level packages the pickled estimator refers to (LightGBM,
    scikit-learn, ...), and for platform modules it refers to (a torch network) what those import.
    """
    owners = md.packages_distributions()
    names: set[str] = set(BASE_REQUIREMENTS)
    for module in referenced_modules(estimator):
        top = module.split(".")[0]
        if top in ("automl", "feature_engineering"):
            for prefix, needs in SHIPPED_NEEDS.items():
                if module.startswith(prefix):
                    names.update(needs)
            continue
        if top in sys.stdlib_module_names or top == "builtins":
            continue
        names.update(owners.get(top, []))
    pins = []
    for name in sorted(names, key=str.lower):
        try:
            pins.append(f"{name}=={md.version(name)}")
        except md.PackageNotFoundError:
            continue
    return pins


def model_spec(config: StudyConfig, raw_columns: list[str], selected: list[str], estimator: Any) -> dict[str, Any]:
    """What the pyfunc needs besides the feature definitions and the estimator."""
    from automl.data import relationships

    ds = config.dataset
    spec: dict[str, Any] = {
        "study": config.name,
        "task": config.task,
        "target": ds.target,
        "metric": config.metric,
        "columns": raw_columns,
        "selected": selected,
        "classes": [str(c) for c in getattr(estimator, "classes_", [])],
        "relational": None,
    }
    if ds.relational:
        spec["relational"] = {
            "target_table": ds.target_table,
            "cutoff_time": ds.cutoff_time,
            "tables": {
                name: {
                    "path": str(Path(t.path).resolve()) if not is_uri(t.path) else t.path,
                    "index": t.index,
                    "time_index": t.time_index,
                    "logical_types": dict(t.logical_types),
                }
                for name, t in ds.tables.items()
            },
            "relationships": [[r.parent, r.child, r.parent_column, r.child_column] for r in relationships(config)],
        }
    return spec


def stage_code(out: Path) -> list[str]:
    """Copies of the platform packages the model ships, without bytecode caches (MLflow copies them as given)."""
    import shutil

    staged = []
    for src in CODE_PATHS:
        dest = out / "code" / src.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        staged.append(str(dest))
    return staged


def write_model_files(
    out: Path, config: StudyConfig, raw_train: pd.DataFrame, selected_train: str, definitions: str, estimator: Any
) -> dict[str, str]:
    """The pyfunc's artifacts in ``out``: the spec (JSON), the feature definitions and the fitted pipeline.

    ``estimator`` is the fitted pipeline as the caller loaded (and verified) it; it is written here afresh,
    so the model never ships a file that was read unverified.
    """
    import json

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "estimator.joblib"
    joblib.dump(estimator, model_path)
    target = config.dataset.target
    raw_columns = [c for c in raw_train.columns if c != target]
    selected = [c for c in pd.read_parquet(selected_train).columns if c != target]
    spec = out / "model_spec.json"
    spec.write_text(json.dumps(model_spec(config, raw_columns, selected, estimator), indent=2, default=str))
    return {SPEC: str(spec), FEATURES: str(definitions), ESTIMATOR: str(model_path)}


def signature_inputs(raw: pd.DataFrame) -> Any:
    """The input schema: every raw column, typed from all training rows (a column with blanks is optional).

    Integer columns are declared ``any``: a blank turns a CSV's integer column into floats, which MLflow
    would refuse for a ``long``; the model's feature step reads either (and rejects text there).
    """
    from mlflow.models import infer_signature
    from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

    with warnings.catch_warnings():  # MLflow's hint about integer columns with blanks: handled here
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        inputs = infer_signature(raw).inputs
    specs = [
        ColSpec(AnyType(), c.name, c.required) if c.type in (DataType.long, DataType.integer) else c
        for c in inputs.inputs
    ]
    return Schema(specs)


def log_pyfunc(
    config: StudyConfig,
    artifacts: dict[str, str],
    raw_train: pd.DataFrame,
    registered_model_name: str | None,
    staging: Path,
) -> Any:
    """Log the model under the active run (``name="model"``) and register it; returns MLflow's ModelInfo."""
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.types.schema import ParamSchema, ParamSpec

    model = AutoMLModel().load(artifacts)
    raw = raw_train.drop(columns=[config.dataset.target])
    example = raw.head(INPUT_EXAMPLE_ROWS)
    params = None
    rel = model.spec.get("relational")
    if rel:
        params = ParamSchema(
            [ParamSpec(f"table_{n}", "string", t["path"]) for n, t in rel["tables"].items() if n != rel["target_table"]]
        )
    signature = infer_signature(example, model.predict(None, example), params=None)
    if params is not None:
        signature.params = params
    signature.inputs = signature_inputs(raw)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=AutoMLModel(),
        artifacts=artifacts,
        code_paths=stage_code(staging),
        signature=signature,
        input_example=example,
        pip_requirements=requirements(model.estimator),
        registered_model_name=registered_model_name,
    )
