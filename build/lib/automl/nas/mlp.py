"""A torch MLP for tabular data: depth, per-layer widths, activation, normalization, dropout, residual skips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automl.nas.base import TorchEstimator, device

__all__ = ["TorchMLP", "build_mlp", "device"]

ACTIVATIONS = ("relu", "gelu", "tanh")
NORMS = ("none", "batch", "layer")


def build_mlp(
    n_in: int,
    n_out: int,
    widths: Sequence[int],
    activation: str = "relu",
    dropout: float = 0.0,
    residual: bool = False,
    norm: str = "none",
) -> Any:
    """Linear blocks of the given widths; a block whose input and output widths match may skip (x + f(x))."""
    import torch
    from torch import nn

    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]

    class Block(nn.Module):
        def __init__(self, d_in: int, d_out: int) -> None:
            super().__init__()
            self.lin = nn.Linear(d_in, d_out)
            self.norm = {"none": nn.Identity, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[norm](
                *(() if norm == "none" else (d_out,))
            )
            self.act, self.drop = act(), nn.Dropout(dropout)
            self.skip = residual and d_in == d_out
            self.holds_input = self.skip  # read by the memory measurement: the input stays alive

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.drop(self.act(self.norm(self.lin(x))))
            return x + h if self.skip else h

    layers: list[nn.Module] = []
    d = n_in
    for w in widths:
        layers.append(Block(d, int(w)))
        d = int(w)
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


class TorchMLP(TorchEstimator):
    """MLP classifier/regressor. ``task`` is 'classification' or 'regression'; ``widths`` per hidden layer."""

    def __init__(
        self,
        task: str = "classification",
        widths: tuple[int, ...] = (64, 64),
        activation: str = "relu",
        norm: str = "none",
        dropout: float = 0.1,
        residual: bool = False,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 64,
        epochs: int = 30,
        seed: int = 0,
    ) -> None:
        self.task = task
        self.widths = widths
        self.activation = activation
        self.norm = norm
        self.dropout = dropout
        self.residual = residual
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed

    def _net(self) -> Any:
        return build_mlp(
            self.n_features_in_,
            self.n_outputs_,
            self.widths,
            self.activation,
            self.dropout,
            self.residual,
            self.norm,
        )
