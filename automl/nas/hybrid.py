"""A torch network whose blocks choose, per position, among convolution, self-attention and identity.

The input is an image (``image_shape``: [H, W] or [C, H, W], convolutions in 2-d) or a
sequence (``sequence_shape``: [steps, features], each row of the frame read as ``steps``
vectors of ``features``; convolutions in 1-d over the steps). A stem (conv 3, batch norm,
ReLU) maps the input to ``width`` channels and adds a learned position embedding; then one
operation per position:

- ``conv3`` / ``conv5``: conv (kernel 3 or 5, 'same') -> batch norm -> ReLU;
- ``attn``: pre-norm multi-head self-attention over the positions (pixels or steps) with
  ``heads`` heads of key width ``key_dim`` (query/key/value projections to heads x key_dim,
  an output projection back to ``width``) and a residual sum;
- ``skip``: the identity.

A dropout and a linear head read the flattened map. :mod:`automl.nas.darts` builds its
supernet from the same operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from automl.nas.base import TorchEstimator

OPS = ("conv3", "conv5", "attn", "skip")


@dataclass(frozen=True)
class OpSpec:
    """One candidate operation of a position (heads and key width only for ``attn``)."""

    op: str
    heads: int = 0
    key_dim: int = 0

    @property
    def label(self) -> str:
        return f"attn_h{self.heads}_k{self.key_dim}" if self.op == "attn" else self.op


def input_layout(
    image_shape: Sequence[int] | None, sequence_shape: Sequence[int] | None
) -> tuple[int, tuple[int, ...]]:
    """(input channels, spatial shape): an image is (C, (H, W)); a sequence (features, (steps,))."""
    if image_shape and sequence_shape:
        raise ValueError("give image_shape or sequence_shape, not both")
    if image_shape:
        dims = [int(v) for v in image_shape]
        return (1, (dims[0], dims[1])) if len(dims) == 2 else (dims[0], (dims[1], dims[2]))
    if sequence_shape:
        steps, features = (int(v) for v in sequence_shape)
        return features, (steps,)
    raise ValueError("the hybrid network needs image_shape or sequence_shape")


def reshape_rows(X: np.ndarray, image_shape: Any, sequence_shape: Any) -> np.ndarray:
    """Rows of columns as the network's input: (N, C, H, W) images or (N, features, steps) sequences."""
    c, spatial = input_layout(image_shape, sequence_shape)
    need = c * math.prod(spatial)
    if X.shape[1] != need:
        shape = list(image_shape or sequence_shape)
        raise ValueError(f"shape {shape} needs {need} columns, got {X.shape[1]}")
    if sequence_shape:
        return np.ascontiguousarray(X.reshape(-1, spatial[0], c).transpose(0, 2, 1))
    return np.ascontiguousarray(X.reshape(-1, c, *spatial))


def make_op(spec: OpSpec, width: int, ndim: int) -> Any:
    """The module of one candidate operation on (B, width, *spatial) maps."""
    if spec.op == "skip":
        return nn.Identity()
    if spec.op in ("conv3", "conv5"):
        k = int(spec.op[-1])
        conv = nn.Conv2d if ndim == 2 else nn.Conv1d
        bn = nn.BatchNorm2d if ndim == 2 else nn.BatchNorm1d
        return nn.Sequential(conv(width, width, k, padding=k // 2), bn(width), nn.ReLU())
    if spec.op == "attn":
        return SelfAttention(width, spec.heads, spec.key_dim)
    raise ValueError(f"unknown operation {spec.op!r}; known: {list(OPS)}")


class ScaledDotAttention(nn.Module):  # type: ignore[misc]
    """softmax(q k^T / sqrt(d)) v, the score matrix materialized; ``scratch_bytes`` is its size
    (read by the memory measurement, which sees only a module's inputs and outputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.scratch_bytes = 0

    def forward(self, q: Any, k: Any, v: Any) -> Any:
        scores = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        self.scratch_bytes = scores.numel() * scores.element_size()
        return scores @ v


class SelfAttention(nn.Module):  # type: ignore[misc]
    """Pre-norm multi-head self-attention over the positions of a (B, C, *spatial) map, residual."""

    holds_input = True  # the residual keeps the input alive (memory measurement)

    def __init__(self, width: int, heads: int, key_dim: int) -> None:
        super().__init__()
        if heads < 1 or key_dim < 1:
            raise ValueError("attention needs heads >= 1 and key_dim >= 1")
        self.heads, self.key_dim = heads, key_dim
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * heads * key_dim)
        self.attend = ScaledDotAttention()
        self.out = nn.Linear(heads * key_dim, width)

    def forward(self, x: Any) -> Any:
        b, c = x.shape[0], x.shape[1]
        tokens = x.flatten(2).transpose(1, 2)  # (B, L, C)
        q, k, v = self.qkv(self.norm(tokens)).chunk(3, dim=-1)
        split = [t.reshape(b, -1, self.heads, self.key_dim).transpose(1, 2) for t in (q, k, v)]
        h = self.attend(*split).transpose(1, 2).reshape(b, -1, self.heads * self.key_dim)
        return x + self.out(h).transpose(1, 2).reshape(x.shape[0], c, *x.shape[2:])


class HybridNet(nn.Module):  # type: ignore[misc]
    """Stem -> one block per position -> flatten -> dropout -> linear. ``blocks`` are built by the caller."""

    def __init__(self, c_in: int, spatial: tuple[int, ...], n_out: int, width: int, blocks: list[Any], dropout: float):
        super().__init__()
        ndim = len(spatial)
        conv = nn.Conv2d if ndim == 2 else nn.Conv1d
        bn = nn.BatchNorm2d if ndim == 2 else nn.BatchNorm1d
        self.stem = nn.Sequential(conv(c_in, width, 3, padding=1), bn(width), nn.ReLU())
        self.pos = nn.Parameter(torch.zeros(1, width, *spatial))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * math.prod(spatial), n_out))

    def features(self, x: Any) -> Any:
        return self.stem(x) + self.pos

    def forward(self, x: Any) -> Any:
        h = self.features(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def build_hybrid(
    image_shape: Any, sequence_shape: Any, n_out: int, width: int, specs: Sequence[OpSpec], dropout: float = 0.0
) -> HybridNet:
    c_in, spatial = input_layout(image_shape, sequence_shape)
    blocks = [make_op(s, width, len(spatial)) for s in specs]
    return HybridNet(c_in, spatial, n_out, width, blocks, dropout)


def specs_of(ops: Sequence[str], heads: Sequence[int], key_dims: Sequence[int]) -> list[OpSpec]:
    return [
        OpSpec(op, int(h), int(k)) if op == "attn" else OpSpec(op)
        for op, h, k in zip(ops, heads, key_dims, strict=True)
    ]


class TorchHybrid(TorchEstimator):
    """Classifier over image or sequence rows; ``ops`` per position, ``heads``/``key_dims`` used by ``attn``."""

    def __init__(
        self,
        task: str = "classification",
        image_shape: tuple[int, ...] | None = None,
        sequence_shape: tuple[int, ...] | None = None,
        width: int = 16,
        ops: tuple[str, ...] = ("conv3", "attn", "skip"),
        heads: tuple[int, ...] = (1, 2, 1),
        key_dims: tuple[int, ...] = (8, 8, 8),
        dropout: float = 0.1,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 64,
        epochs: int = 30,
        seed: int = 0,
    ) -> None:
        self.task = task
        self.image_shape = image_shape
        self.sequence_shape = sequence_shape
        self.width = width
        self.ops = ops
        self.heads = heads
        self.key_dims = key_dims
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return reshape_rows(X, self.image_shape, self.sequence_shape)

    def _net(self) -> Any:
        specs = specs_of(self.ops, self.heads, self.key_dims)
        return build_hybrid(self.image_shape, self.sequence_shape, self.n_outputs_, self.width, specs, self.dropout)
