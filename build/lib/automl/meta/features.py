"""Dataset meta-features: what makes two datasets alike, for warm-starting a search.

Computed on the training split only (never the holdout). Each meta-feature has a
raw value (logged to MLflow as it is) and a normalized value in about [-1, 1]
used for distances:

=====================  ==========================================================  =================
name                   computation                                                 normalized as
=====================  ==========================================================  =================
log_rows               log10(rows)                                                 / 6
log_columns            log10(feature columns)                                      / 4
numeric_ratio          numeric columns / columns                                   as is
missing_ratio          mean fraction of missing cells                              as is
classes                number of classes (1 for regression)                       log10(.) / 2
minority_ratio         smallest class share x classes (1 = balanced); regression: 1  as is
target_skew            skewness of a regression target (0 for classification)      x / (1 + |x|)
mean_skew              mean absolute skewness of numeric columns                   x / (1 + x)
mean_kurtosis          mean excess kurtosis of numeric columns                     x / (1 + |x|)
mean_abs_corr          mean |Pearson r| of numeric columns with the target          as is
                       (classes coded as integers)
landmark_1nn           3-fold CV accuracy (R^2 for regression) of 1-nearest-        clipped to [-1, 1]
                       neighbour on standardized columns, <= 500 rows
landmark_stump         same for a depth-1 decision tree                            clipped to [-1, 1]
landmark_linear        same for Gaussian naive Bayes (classification) or ridge     clipped to [-1, 1]
=====================  ==========================================================  =================
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

NAMES = (
    "log_rows",
    "log_columns",
    "numeric_ratio",
    "missing_ratio",
    "classes",
    "minority_ratio",
    "target_skew",
    "mean_skew",
    "mean_kurtosis",
    "mean_abs_corr",
    "landmark_1nn",
    "landmark_stump",
    "landmark_linear",
)


def _landmarks(X: pd.DataFrame, y: pd.Series, task: str, seed: int) -> dict[str, float]:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    num = X.select_dtypes(include=np.number)
    if num.shape[1] == 0:
        return {"landmark_1nn": 0.0, "landmark_stump": 0.0, "landmark_linear": 0.0}
    if len(num) > 500:
        idx = np.random.default_rng(seed).choice(len(num), 500, replace=False)
        num, y = num.iloc[idx], y.iloc[idx]
    cls = task == "classification"
    if cls and y.value_counts().min() < 3:
        keep = y.map(y.value_counts()) >= 3
        num, y = num[keep], y[keep]
    cv = StratifiedKFold(3, shuffle=True, random_state=seed) if cls else KFold(3, shuffle=True, random_state=seed)
    models = {
        "landmark_1nn": KNeighborsClassifier(1) if cls else KNeighborsRegressor(1),
        "landmark_stump": DecisionTreeClassifier(max_depth=1, random_state=seed)
        if cls
        else DecisionTreeRegressor(max_depth=1, random_state=seed),
        "landmark_linear": GaussianNB() if cls else Ridge(),
    }
    out = {}
    for name, model in models.items():
        pipe = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out[name] = float(np.mean(cross_val_score(pipe, num, y, cv=cv, scoring="accuracy" if cls else "r2")))
            except ValueError:
                out[name] = 0.0
    return out


def meta_features(frame: pd.DataFrame, target: str, task: str, seed: int = 0) -> dict[str, float]:
    """Raw meta-features of a (training) frame; see the module docs for each."""
    X, y = frame.drop(columns=[target]), frame[target]
    num = X.select_dtypes(include=np.number)
    out: dict[str, float] = {
        "log_rows": math.log10(max(len(frame), 1)),
        "log_columns": math.log10(max(X.shape[1], 1)),
        "numeric_ratio": num.shape[1] / max(X.shape[1], 1),
        "missing_ratio": float(X.isna().mean().mean()) if X.shape[1] else 0.0,
    }
    if task == "classification":
        counts = y.value_counts()
        out["classes"] = float(len(counts))
        out["minority_ratio"] = float(counts.min() / counts.sum() * len(counts))
        out["target_skew"] = 0.0
        y_num = pd.Series(pd.factorize(y)[0], index=y.index, dtype=float)
    else:
        out["classes"] = 1.0
        out["minority_ratio"] = 1.0
        out["target_skew"] = float(y.skew()) if len(y) > 2 else 0.0
        y_num = y.astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skews = num.skew().abs().replace([np.inf], np.nan).dropna()
        kurts = num.kurtosis().replace([np.inf, -np.inf], np.nan).dropna()
        corrs = num.corrwith(y_num).abs().dropna() if num.shape[1] else pd.Series(dtype=float)
    out["mean_skew"] = float(skews.mean()) if len(skews) else 0.0
    out["mean_kurtosis"] = float(kurts.mean()) if len(kurts) else 0.0
    out["mean_abs_corr"] = float(corrs.mean()) if len(corrs) else 0.0
    out.update(_landmarks(X, y, task, seed))
    return {k: round(float(out[k]), 6) for k in NAMES}


def normalize(meta: dict[str, float]) -> np.ndarray:
    """Map raw meta-features to a vector of comparable scale (about [-1, 1] each)."""
    m = {k: float(meta.get(k, 0.0)) for k in NAMES}
    v = [
        m["log_rows"] / 6,
        m["log_columns"] / 4,
        m["numeric_ratio"],
        m["missing_ratio"],
        math.log10(max(m["classes"], 1.0)) / 2,
        m["minority_ratio"],
        m["target_skew"] / (1 + abs(m["target_skew"])),
        m["mean_skew"] / (1 + abs(m["mean_skew"])),
        m["mean_kurtosis"] / (1 + abs(m["mean_kurtosis"])),
        m["mean_abs_corr"],
        *(min(max(m[k], -1.0), 1.0) for k in ("landmark_1nn", "landmark_stump", "landmark_linear")),
    ]
    return np.asarray(v, dtype=float)


def distance(a: dict[str, float], b: dict[str, float]) -> float:
    """Euclidean distance between normalized meta-feature vectors."""
    return float(np.linalg.norm(normalize(a) - normalize(b)))
