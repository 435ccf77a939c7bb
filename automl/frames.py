"""Frame preparation shared by training and the served model (pandas and numpy only).

The registered model ships this module (``code_paths``) and imports it where only the
model's own requirements are installed, so it must stay free of the search's imports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def prepare_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Make object/category columns plain strings so the encoders see one dtype."""
    X = X.copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("string").astype(object).where(X[col].notna(), np.nan)
    return X
