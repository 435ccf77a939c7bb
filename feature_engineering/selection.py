"""Feature selection fitted on training data only.

Uses featuretools' own selection utilities (null, single-value, low
information, highly correlated); the fitted selector records why each dropped
feature was dropped.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from featuretools import selection as fts


class FeatureSelector:
    """Drop null, constant, low-information and highly correlated features.

    ``fit(X, features)`` takes the *training* feature matrix and its feature
    definitions; it sets ``selected_features_`` (definitions kept),
    ``selected_columns_`` and ``dropped_`` (column -> reason). ``filters=False`` keeps
    every feature in order (for data whose columns are positions, such as image pixels).
    """

    def __init__(self, null_threshold: float = 0.95, corr_threshold: float = 0.95, filters: bool = True) -> None:
        self.null_threshold = null_threshold
        self.corr_threshold = corr_threshold
        self.filters = filters

    def fit(self, X: pd.DataFrame, features: list[Any]) -> FeatureSelector:
        if X.shape[0] == 0:
            raise ValueError("cannot fit feature selection on an empty training matrix")
        dropped: dict[str, str] = {}
        fm, feats = X, list(features)
        steps = [
            (
                f"more than {self.null_threshold:.0%} missing",
                lambda m, f: fts.remove_highly_null_features(m, f, pct_null_threshold=self.null_threshold),
            ),
            ("single value", lambda m, f: fts.remove_single_value_features(m, f, count_nan_as_value=True)),
            ("low information", lambda m, f: fts.remove_low_information_features(m, f)),
            (
                f"correlation above {self.corr_threshold}",
                lambda m, f: remove_highly_correlated(m, f, self.corr_threshold),
            ),
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for reason, step in steps if self.filters else []:
                before = list(fm.columns)
                fm, feats = step(fm, feats)
                for col in before:
                    if col not in fm.columns:
                        dropped[str(col)] = reason
        if not feats:
            raise ValueError("feature selection dropped every feature; loosen the thresholds")
        self.selected_features_ = feats
        self.selected_columns_ = [str(c) for c in fm.columns]
        self.dropped_ = dropped
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.selected_columns_]


def remove_highly_correlated(fm: pd.DataFrame, features: list[Any], threshold: float) -> tuple[pd.DataFrame, list[Any]]:
    """featuretools' ``remove_highly_correlated_features`` rule, from one correlation matrix.

    The rule (the same): among the numeric and boolean columns, in the matrix's order (DFS lists simpler
    features first), a column is dropped when the absolute Pearson correlation with any earlier column, on
    the rows where both have values, is at least ``threshold``; the features list keeps what remains (a
    multi-output feature whole, or the slices left). Why our own: featuretools first infers woodwork types
    for the whole matrix (parsing text columns as dates element by element) and then calls ``Series.corr``
    once per pair in a Python loop. On tv16's training rows (35,945 x 191 columns after DFS) that one step
    took 46.4 s of the selection's 87.9 s under cProfile (33,384 ``Series.corr`` calls, 11.7 s of type
    inference); pandas computes the whole matrix in one call (``DataFrame.corr``: pairwise complete rows,
    as ``Series.corr``). tests/test_feature_engineering.py checks it keeps what featuretools keeps.
    """
    cols = [c for c in fm.columns if pd.api.types.is_numeric_dtype(fm[c]) or pd.api.types.is_bool_dtype(fm[c])]
    corr = np.abs(fm[cols].astype("float64").corr().to_numpy()) if cols else np.zeros((0, 0))
    with np.errstate(invalid="ignore"):
        dropped = {cols[i] for i in range(len(cols) - 1, 0, -1) if np.any(corr[i, :i] >= threshold)}
    keep = [c for c in fm.columns if c not in dropped]
    names = set(keep)
    kept: list[Any] = []
    for f in features:
        if f.number_output_features > 1:
            slices = [f[i] for i in range(f.number_output_features) if f[i].get_name() in names]
            kept.extend([f] if len(slices) == f.number_output_features else slices)
        elif f.get_name() in names:
            kept.append(f)
    return fm[keep], kept


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    """Numbers for the quick models: categories as codes, missing as NaN."""
    return pd.DataFrame(
        {
            col: X[col].astype(float)
            if pd.api.types.is_numeric_dtype(X[col])
            else pd.Series(pd.factorize(X[col])[0], index=X.index).replace(-1, float("nan"))
            for col in X.columns
        },
        index=X.index,
    )


def _quick_lgbm(classification: bool, seed: int, **kwargs: Any) -> Any:
    """The small LightGBM that the model-based selection steps fit (100 trees, one thread)."""
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if classification else lgb.LGBMRegressor
    return cls(n_estimators=100, learning_rate=0.1, num_leaves=15, random_state=seed, n_jobs=1, verbosity=-1, **kwargs)


def _splitter(classification: bool, cv: int, seed: int) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    return (StratifiedKFold if classification else KFold)(cv, shuffle=True, random_state=seed)


class LeakageGuard:
    """Flag single features that alone predict the target almost perfectly.

    Each feature gets a one-feature depth-3 tree scored by K-fold CV on the training
    rows (ROC AUC for classification, R^2 for regression); a score above
    ``threshold`` is a suspected leak. Sets ``scores_`` and ``leaks_`` (name -> score).
    """

    def __init__(self, task: str = "classification", threshold: float = 0.99, cv: int = 3, seed: int = 0) -> None:
        self.task = task
        self.threshold = threshold
        self.cv = cv
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: pd.Series) -> LeakageGuard:
        from sklearn.impute import SimpleImputer
        from sklearn.metrics import r2_score, roc_auc_score
        from sklearn.pipeline import make_pipeline
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        cls = self.task == "classification"
        binary = cls and y.nunique() == 2
        folds = list(_splitter(cls, self.cv, self.seed).split(np.zeros(len(y)), y))
        Xn = _numeric(X)
        yv = y.to_numpy()
        self.scores_: dict[str, float] = {}
        for col in Xn.columns:
            model = (
                DecisionTreeClassifier(max_depth=3, random_state=self.seed)
                if cls
                else DecisionTreeRegressor(max_depth=3, random_state=self.seed)
            )
            pipe = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), model)
            column = Xn[[col]].to_numpy()
            scores = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:  # the scores cross_val_score(scoring="roc_auc" / "roc_auc_ovr" / "r2") gives, without its
                    # per-call scorer machinery (12 of the guard's 28.7 s on tv16's 191 columns)
                    for tr, va in folds:
                        fitted = pipe.fit(column[tr], yv[tr])
                        if not cls:
                            scores.append(r2_score(yv[va], fitted.predict(column[va])))
                        elif binary:
                            scores.append(roc_auc_score(yv[va], fitted.predict_proba(column[va])[:, 1]))
                        else:
                            proba = fitted.predict_proba(column[va])
                            scores.append(roc_auc_score(yv[va], proba, multi_class="ovr", labels=fitted.classes_))
                except ValueError:
                    continue
            self.scores_[col] = float(np.mean(scores))
        self.leaks_ = {c: s for c, s in self.scores_.items() if s > self.threshold}
        return self


class ModelBasedSelector:
    """Keep the ``max_features`` features with the largest LightGBM gain importance,
    summed over K cross-validation folds of the training rows only."""

    def __init__(self, max_features: int, task: str = "classification", cv: int = 3, seed: int = 0) -> None:
        self.max_features = max_features
        self.task = task
        self.cv = cv
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: pd.Series) -> ModelBasedSelector:

        cls = self.task == "classification"
        splitter = _splitter(cls, self.cv, self.seed)
        Xn = _numeric(X).to_numpy()
        importance = np.zeros(X.shape[1])
        for tr, _ in splitter.split(Xn, y):
            model = _quick_lgbm(cls, self.seed, importance_type="gain")
            model.fit(Xn[tr], y.iloc[tr])
            importance += model.feature_importances_
        order = np.argsort(-importance, kind="stable")
        self.importances_ = {str(X.columns[i]): float(importance[i]) for i in order}
        self.selected_columns_ = [str(X.columns[i]) for i in order[: self.max_features]]
        return self


class GeneratedFeatureCheck:
    """Keep generated features only when they improve a quick model under CV of the training rows.

    DFS on a single table multiplies and adds column pairs; on data such as image pixels or a
    handful of clean measurements those columns are noise to a tree model and cost the search
    time. ``fit(X, y, original_columns)`` scores the same small LightGBM (100 trees, as
    :class:`ModelBasedSelector`) by K-fold CV on the original columns alone and on all columns
    (log loss for classification, squared error for regression: proper scores that move with
    small gains); the generated columns stay only if all columns score better by more than
    ``min_gain`` (relative). Sets ``scores_`` ({"original": s, "with_generated": s}, lower is
    better) and ``keep_generated_``.
    """

    def __init__(self, task: str = "classification", cv: int = 3, seed: int = 0, min_gain: float = 0.0) -> None:
        self.task = task
        self.cv = cv
        self.seed = seed
        self.min_gain = min_gain

    def _cv_loss(self, X: pd.DataFrame, y: pd.Series) -> float:
        from sklearn.metrics import log_loss, mean_squared_error

        cls = self.task == "classification"
        Xn = _numeric(X).to_numpy()
        labels = np.unique(y.to_numpy()) if cls else None
        losses = []
        for tr, va in _splitter(cls, self.cv, self.seed).split(Xn, y):
            model = _quick_lgbm(cls, self.seed)
            model.fit(Xn[tr], y.iloc[tr])
            if cls:
                losses.append(log_loss(y.iloc[va], model.predict_proba(Xn[va]), labels=labels))
            else:
                losses.append(mean_squared_error(y.iloc[va], model.predict(Xn[va])))
        return float(np.mean(losses))

    def fit(self, X: pd.DataFrame, y: pd.Series, original_columns: list[str]) -> GeneratedFeatureCheck:
        original = [c for c in X.columns if c in set(original_columns)]
        if not original or len(original) == X.shape[1]:
            self.scores_ = {}
            self.keep_generated_ = len(original) < X.shape[1]  # nothing to compare against
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = self._cv_loss(X[original], y)
            full = self._cv_loss(X, y)
        self.scores_ = {"original": base, "with_generated": full}
        self.keep_generated_ = full < base * (1.0 - self.min_gain)
        return self
