"""What drives the model: permutation importance of the final model on the holdout, on the raw columns.

Each raw column is shuffled in turn and the whole model (features recomputed from the shuffled raw
rows, then the estimator) is scored again on the holdout with the study's metric; the drop is the
column's importance (the definition of scikit-learn's ``permutation_importance``). All shuffled copies
go through the model in one call: scikit-learn's loop runs the whole model (the featuretools step
included) once per column and repeat. Measured on the demo's champion (breast_cancer, 30 raw columns,
114 holdout rows, 3 repeats, 2026-11-30, 2 cores): 0.22 s here, 2.88 s through
``sklearn.inspection.permutation_importance`` with a wrapper around the same model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from automl.config import StudyConfig
from automl.model.champion import score_frame
from automl.model.pyfunc import AutoMLModel

N_REPEATS = 3


def raw_importance(config: StudyConfig, model: AutoMLModel, holdout: pd.DataFrame) -> pd.DataFrame:
    """One row per raw column: mean and std of the score drop when it is shuffled (higher: more important)."""
    target = config.dataset.target
    X, y = holdout.drop(columns=[target]).reset_index(drop=True), holdout[target].reset_index(drop=True)
    sign = 1.0 if config.metric_direction == "maximize" else -1.0
    n = len(X)
    rng = np.random.RandomState(config.seed)
    blocks = [X]
    for col in X.columns:
        for _ in range(N_REPEATS):
            shuffled = X.copy()
            shuffled[col] = X[col].to_numpy()[rng.permutation(n)]
            blocks.append(shuffled)
    predictions = model.predict(None, pd.concat(blocks, ignore_index=True))
    scores = np.array(
        [sign * score_frame(config.metric, y, predictions.iloc[i * n : (i + 1) * n]) for i in range(len(blocks))]
    )
    drops = (scores[0] - scores[1:]).reshape(len(X.columns), N_REPEATS)
    result = Bunch(importances_mean=drops.mean(axis=1), importances_std=drops.std(axis=1))
    table = pd.DataFrame(
        {
            "column": list(X.columns),
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, kind="mergesort").reset_index(drop=True)


def write_importance(table: pd.DataFrame, out: Path, metric: str) -> list[Path]:
    """The table as CSV and a horizontal bar plot (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv = out / "permutation_importance.csv"
    table.to_csv(csv, index=False)
    shown = table.head(30).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    ax.barh(shown["column"].astype(str), shown["importance_mean"], xerr=np.asarray(shown["importance_std"]))
    ax.set_xlabel(f"drop in holdout {metric} when the column is shuffled")
    ax.set_title("Permutation importance (raw columns)")
    png = out / "permutation_importance.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [csv, png]
