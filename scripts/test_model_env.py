"""`make test-model-env`: the registered model loads and predicts where only its own requirements are installed.

Trains a small LightGBM study (DFS features kept) on a CSV with string categories and blanks, takes the
registered champion's files, creates a fresh virtualenv, installs the model's logged ``requirements.txt``
there (pip reads the packages from the configured indexes; ``constraints.txt`` pins the same versions),
then loads the model in that interpreter, isolated from this project (``python -I``, another folder),
predicts on raw rows and compares with the predictions made here. Exits non-zero on any difference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one line per step, not a bar per file

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import json, sys
import mlflow
import pandas as pd
rows = pd.read_csv(sys.argv[2])
out = mlflow.pyfunc.load_model(sys.argv[1]).predict(rows)
print(json.dumps({"columns": list(out.columns), "rows": out.to_dict(orient="list")}))
"""


def _frame(n: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    frame = pd.DataFrame({"a": a.round(3), "b": b.round(3), "colour": colour, "visits": rng.randint(0, 20, size=n)})
    frame["label"] = np.where(a * b + 0.8 * (colour == "red") + 0.3 * rng.normal(size=n) > 0.3, "yes", "no")
    frame.loc[rng.rand(n) < 0.08, "a"] = np.nan
    frame.loc[rng.rand(n) < 0.08, "colour"] = None
    return frame


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="automl-model-env-"))
    os.environ["AUTOML_HOME"] = str(work / "automl")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    sys.path.insert(0, str(ROOT))
    import mlflow

    from automl import tracking
    from automl.config import parse_config
    from automl.pipeline import run_local

    csv = work / "train.csv"
    _frame(300, 1).to_csv(csv, index=False)
    config = parse_config(
        {
            "name": "model_env",
            "dataset": {"source": str(csv), "target": "label"},
            "task": "classification",
            "metric": "roc_auc",
            "model_space": ["lightgbm"],
            "sampler": "random",
            "pruning": {"rule": "none"},
            "features": {"trans_primitives": ["multiply_numeric"], "generated_must_help": False},
            "budget": {"n_trials": 1, "parallelism": 1, "trials_per_slot": 1, "cv_folds": 2, "max_rounds": 40},
            "warm_start": {"enabled": False},
        }
    )
    started = time.time()
    run_local(config, run_id="model_env")
    uri = f"models:/{config.registered_model_name}@champion"
    with tracking.global_uri(config):
        model_dir = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(work / "model")))
        rows = _frame(25, 2).drop(columns=["label"])
        expected = mlflow.pyfunc.load_model(str(model_dir)).predict(rows)
    rows_csv = work / "rows.csv"
    rows.to_csv(rows_csv, index=False)
    requirements = (model_dir / "requirements.txt").read_text().split()
    print(f"trained and registered in {time.time() - started:.0f} s; requirements: {' '.join(requirements)}")
    if any(r.split("==")[0].lower() == "torch" for r in requirements):
        print("a LightGBM model must not require torch", file=sys.stderr)
        return 1

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    started = time.time()
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    installed = subprocess.run(
        [*pip, "-r", str(model_dir / "requirements.txt"), "-c", str(ROOT / "constraints.txt")],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        print(installed.stdout[-3000:], installed.stderr[-5000:], file=sys.stderr)
        return 1
    print(f"fresh virtualenv from the model's requirements.txt in {time.time() - started:.0f} s")
    (work / "check.py").write_text(CHECK)
    done = subprocess.run(
        [str(py), "-I", str(work / "check.py"), str(model_dir), str(rows_csv)],
        cwd=work,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-5000:], file=sys.stderr)
        return 1
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if got["columns"] != list(expected.columns):
        print(f"columns differ: {got['columns']} vs {list(expected.columns)}", file=sys.stderr)
        return 1
    for col in expected.columns:
        mine, theirs = list(expected[col]), got["rows"][col]
        same = (
            mine == theirs if col == "prediction" else all(abs(x - y) < 1e-9 for x, y in zip(mine, theirs, strict=True))
        )
        if not same:
            print(f"column {col} differs in the fresh environment", file=sys.stderr)
            return 1
    print(f"OK: the model loaded in a fresh virtualenv and predicted {len(rows)} raw rows as here")
    shutil.rmtree(work, ignore_errors=True)  # the virtualenv is about 900 MB
    return 0


if __name__ == "__main__":
    sys.exit(main())
