"""A torch MLP (automl.nas.mlp); trained per epoch, so pruning counts epochs."""

from __future__ import annotations

from typing import Any

import optuna

from automl.families.torch_cv import TorchFamily
from automl.nas.mlp import TorchMLP


class TorchMLPFamily(TorchFamily):
    """The architecture is searched: depth, a width per layer, activation, normalization,
    dropout and residual skips (between layers of equal width)."""

    name = "torch_mlp"
    tasks = ("classification", "regression")
    max_layers = 4

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        n_layers = trial.suggest_int(f"{prefix}n_layers", 1, self.max_layers)
        params: dict[str, Any] = {"n_layers": n_layers}
        for i in range(n_layers):
            params[f"width_{i}"] = trial.suggest_int(f"{prefix}width_{i}", 8, 256, log=True)
        params.update(
            activation=trial.suggest_categorical(f"{prefix}activation", ["relu", "gelu", "tanh"]),
            norm=trial.suggest_categorical(f"{prefix}norm", ["none", "batch", "layer"]),
            dropout=trial.suggest_float(f"{prefix}dropout", 0.0, 0.5),
            residual=trial.suggest_categorical(f"{prefix}residual", [False, True]),
            lr=trial.suggest_float(f"{prefix}lr", 1e-4, 3e-2, log=True),
            weight_decay=trial.suggest_float(f"{prefix}weight_decay", 1e-6, 1e-2, log=True),
            batch_size=trial.suggest_categorical(f"{prefix}batch_size", [32, 64, 128]),
        )
        return params

    def grid(self) -> dict[str, list[Any]]:
        return {
            "n_layers": [1, 2],
            "width_0": [32, 128],
            "width_1": [64],
            "activation": ["relu"],
            "norm": ["none"],
            "dropout": [0.1],
            "residual": [False],
            "lr": [1e-3, 1e-2],
            "weight_decay": [1e-5],
            "batch_size": [64],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        p = dict(params)
        n_layers = int(p.pop("n_layers", 2))
        widths = tuple(int(p.pop(f"width_{i}", 64)) for i in range(self.max_layers))[:n_layers]
        return TorchMLP(task=task, seed=seed, widths=widths, **p)
