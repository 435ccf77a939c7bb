"""Hybrid conv / attention / skip networks (automl.nas.hybrid) on image or sequence rows.

``image_shape`` or ``sequence_shape`` comes from the dataset config. The space is the same
for the sampled search and for DARTS (automl.nas.darts), whose derived architecture is
recorded as a point of it.
"""

from __future__ import annotations

from typing import Any

import optuna

from automl.config import StudyConfig
from automl.config.nas import HYBRID_BATCH_SIZES, HYBRID_HEADS, HYBRID_KEY_DIMS, HYBRID_WIDTHS
from automl.families.torch_cv import TorchFamily
from automl.nas.hybrid import OPS, TorchHybrid


class TorchHybridFamily(TorchFamily):
    """Searched: the width; per position an operation (conv 3, conv 5, attention, skip) and, for
    attention, its heads and key width; dropout, learning rate, weight decay, batch size."""

    name = "torch_hybrid"
    tasks = ("classification",)
    positions = 3

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        params: dict[str, Any] = {"width": trial.suggest_categorical(f"{prefix}width", list(HYBRID_WIDTHS))}
        for i in range(self.positions):
            op = trial.suggest_categorical(f"{prefix}op_{i}", list(OPS))
            params[f"op_{i}"] = op
            if op == "attn":
                params[f"heads_{i}"] = trial.suggest_categorical(f"{prefix}heads_{i}", list(HYBRID_HEADS))
                params[f"key_dim_{i}"] = trial.suggest_categorical(f"{prefix}key_dim_{i}", list(HYBRID_KEY_DIMS))
        params.update(
            dropout=trial.suggest_float(f"{prefix}dropout", 0.0, 0.5),
            lr=trial.suggest_float(f"{prefix}lr", 3e-4, 3e-2, log=True),
            weight_decay=trial.suggest_float(f"{prefix}weight_decay", 1e-6, 1e-2, log=True),
            batch_size=trial.suggest_categorical(f"{prefix}batch_size", list(HYBRID_BATCH_SIZES)),
        )
        return params

    def grid(self) -> dict[str, list[Any]]:
        return {
            "width": [16],
            "op_0": ["conv3"],
            "op_1": ["conv3", "attn"],
            "heads_1": [2],
            "key_dim_1": [8],
            "op_2": ["skip"],
            "dropout": [0.1],
            "lr": [3e-3],
            "weight_decay": [1e-5],
            "batch_size": [64],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        p = dict(params)
        ops = tuple(str(p.pop(f"op_{i}", "skip")) for i in range(self.positions))
        heads = tuple(int(p.pop(f"heads_{i}", 1)) for i in range(self.positions))
        key_dims = tuple(int(p.pop(f"key_dim_{i}", 8)) for i in range(self.positions))
        return TorchHybrid(task=task, seed=seed, ops=ops, heads=heads, key_dims=key_dims, **p)

    def fixed_params(self, config: StudyConfig) -> dict[str, Any]:
        d = config.dataset
        if d.image_shape:
            return {"image_shape": tuple(d.image_shape)}
        if d.sequence_shape:
            return {"sequence_shape": tuple(d.sequence_shape)}
        return {}
