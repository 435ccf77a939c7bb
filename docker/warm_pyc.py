"""Byte-compile exactly the modules the trial worker imports (run in the worker image's builder stage).

Imports every ``automl`` module and the libraries a trial uses, then writes each loaded module's ``.pyc`` in
``unchecked-hash`` mode: valid whatever the files' timestamps become when the virtualenv is copied, and the
worker's read-only root could never cache them at run time. The rest of the virtualenv stays source only.
"""

import importlib
import pkgutil
import py_compile
import sys

import automl

for info in pkgutil.walk_packages(automl.__path__, "automl."):
    importlib.import_module(info.name)
for name in ("torch", "lightgbm", "sklearn.ensemble", "mlflow.pyfunc", "optuna", "featuretools", "pyarrow.parquet"):
    importlib.import_module(name)

sources: set[str] = set()
for module in list(sys.modules.values()):
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        sources.add(spec.origin)
for path in sorted(sources):
    py_compile.compile(path, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
print(f"warm_pyc: {len(sources)} modules compiled")
