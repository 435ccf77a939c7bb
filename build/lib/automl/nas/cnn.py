"""A small torch CNN for image data given as pixel columns (e.g. scikit-learn's 8x8 ``load_digits``).

Architecture parameters: number of conv blocks, channels and kernel size per block,
pooling after each block (max, avg or none), residual skips where shapes match,
dropout before the linear head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from automl.nas.base import TorchEstimator

POOLS = ("max", "avg", "none")


def build_cnn(
    image_shape: Sequence[int],
    n_out: int,
    channels: Sequence[int],
    kernels: Sequence[int],
    pool: str = "max",
    residual: bool = False,
    dropout: float = 0.0,
) -> Any:
    """Conv blocks (conv 'same' -> batch norm -> ReLU [-> pool]); a block with equal in/out channels may skip."""
    import torch
    from torch import nn

    c_in, h, w = _chw(image_shape)

    class ConvBlock(nn.Module):
        def __init__(self, c_in: int, c_out: int, k: int, pool_here: bool) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, k, padding=k // 2)
            self.bn, self.act = nn.BatchNorm2d(c_out), nn.ReLU()
            self.skip = residual and c_in == c_out
            self.holds_input = self.skip
            pooling = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}.get(pool) if pool_here else None
            self.pool = pooling(2) if pooling else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.act(self.bn(self.conv(x)))
            if self.skip:
                h = h + x
            return self.pool(h)

    blocks: list[nn.Module] = []
    c = c_in
    for ch, k in zip(channels, kernels, strict=True):
        pool_here = pool != "none" and min(h, w) >= 2
        blocks.append(ConvBlock(c, int(ch), int(k), pool_here))
        c = int(ch)
        if pool_here:
            h, w = h // 2, w // 2
    return nn.Sequential(*blocks, nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * h * w, n_out))


def _chw(image_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(image_shape) == 2:
        return 1, int(image_shape[0]), int(image_shape[1])
    c, h, w = (int(v) for v in image_shape)
    return c, h, w


class TorchCNN(TorchEstimator):
    """CNN classifier over rows of ``prod(image_shape)`` pixel columns."""

    def __init__(
        self,
        task: str = "classification",
        image_shape: tuple[int, ...] = (8, 8),
        channels: tuple[int, ...] = (16, 32),
        kernels: tuple[int, ...] = (3, 3),
        pool: str = "max",
        residual: bool = False,
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 64,
        epochs: int = 30,
        seed: int = 0,
    ) -> None:
        self.task = task
        self.image_shape = image_shape
        self.channels = channels
        self.kernels = kernels
        self.pool = pool
        self.residual = residual
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        c, h, w = _chw(self.image_shape)
        if X.shape[1] != c * h * w:
            raise ValueError(f"image_shape {list(self.image_shape)} needs {c * h * w} pixel columns, got {X.shape[1]}")
        return np.ascontiguousarray(X.reshape(-1, c, h, w))

    def _net(self) -> Any:
        return build_cnn(
            self.image_shape, self.n_outputs_, self.channels, self.kernels, self.pool, self.residual, self.dropout
        )
