"""A small torch CNN (automl.nas.cnn) over pixel columns; ``image_shape`` comes from the dataset config."""

from __future__ import annotations

from typing import Any

import optuna

from automl.config import StudyConfig
from automl.families.torch_cv import TorchFamily
from automl.nas.cnn import TorchCNN


class TorchCNNFamily(TorchFamily):
    """Searched: conv blocks, channels and kernel per block, pooling, residual skips, dropout."""

    name = "torch_cnn"
    tasks = ("classification",)
    max_blocks = 3

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        n_blocks = trial.suggest_int(f"{prefix}n_blocks", 1, self.max_blocks)
        params: dict[str, Any] = {"n_blocks": n_blocks}
        for i in range(n_blocks):
            params[f"channels_{i}"] = trial.suggest_int(f"{prefix}channels_{i}", 4, 64, log=True)
            params[f"kernel_{i}"] = trial.suggest_categorical(f"{prefix}kernel_{i}", [3, 5])
        params.update(
            pool=trial.suggest_categorical(f"{prefix}pool", ["max", "avg", "none"]),
            residual=trial.suggest_categorical(f"{prefix}residual", [False, True]),
            dropout=trial.suggest_float(f"{prefix}dropout", 0.0, 0.5),
            lr=trial.suggest_float(f"{prefix}lr", 3e-4, 3e-2, log=True),
            weight_decay=trial.suggest_float(f"{prefix}weight_decay", 1e-6, 1e-2, log=True),
            batch_size=trial.suggest_categorical(f"{prefix}batch_size", [32, 64, 128]),
        )
        return params

    def grid(self) -> dict[str, list[Any]]:
        return {
            "n_blocks": [1, 2],
            "channels_0": [8, 32],
            "kernel_0": [3],
            "channels_1": [32],
            "kernel_1": [3],
            "pool": ["max"],
            "residual": [False],
            "dropout": [0.1],
            "lr": [3e-3],
            "weight_decay": [1e-5],
            "batch_size": [64],
        }

    def estimator(self, params: dict[str, Any], task: str, seed: int) -> Any:
        p = dict(params)
        n_blocks = int(p.pop("n_blocks", 2))
        channels = tuple(int(p.pop(f"channels_{i}", 16)) for i in range(self.max_blocks))[:n_blocks]
        kernels = tuple(int(p.pop(f"kernel_{i}", 3)) for i in range(self.max_blocks))[:n_blocks]
        return TorchCNN(task=task, seed=seed, channels=channels, kernels=kernels, **p)

    def fixed_params(self, config: StudyConfig) -> dict[str, Any]:
        if config.dataset.image_shape:
            return {"image_shape": tuple(config.dataset.image_shape)}
        return {}
