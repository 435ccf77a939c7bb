"""The width stage of the DARTS solver (automl.nas.darts): the derived operations at the widest candidate
width, their channels masked by a softmax-weighted mix of width masks (FBNetV2's channel masking), so one
set of weights serves every width and the mixed network costs one forward."""

from __future__ import annotations

import math

import torch
from torch import nn

from automl.nas.hybrid import HybridNet, OpSpec, SelfAttention, make_op


class MaskedLayerNorm(nn.Module):
    """The attention's layer norm over the first ``w`` channels of the widest map, mixed over the widths.

    A plain layer norm of a masked map would average over the zeroed channels too; this one
    normalizes each width's channels alone (the narrow layer's statistics) and mixes the results
    with the width weights ``gates`` (set by :class:`WidthSupernet` before each forward).
    """

    def __init__(self, norm: nn.LayerNorm, widths: list[int]) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps
        self.widths = widths
        self.gates: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gates is None:
            raise RuntimeError("MaskedLayerNorm needs the width weights (set by WidthSupernet.forward)")
        full = x.shape[-1]
        out = torch.zeros_like(x)
        for g, w in zip(self.gates, self.widths, strict=True):
            y = nn.functional.layer_norm(x[..., :w], (w,), self.weight[:w], self.bias[:w], self.eps)
            out = out + g * nn.functional.pad(y, (0, full - w))
        return out


class WidthSupernet(nn.Module):
    """The derived operations at the widest candidate width, its channels masked by a mix of widths.

    The mask is sum_i softmax(beta)_i m_i, where m_i keeps the first ``widths[i]`` channels
    (FBNetV2's channel masking: every width shares the widest layer's first channels). It
    multiplies the stem's output and every block's output; attention's layer norm is
    :class:`MaskedLayerNorm`. With one-hot weights the network is the narrow network whose
    parameters are the wide one's first channels (:meth:`narrow`).
    """

    def __init__(self, c_in: int, spatial: tuple[int, ...], n_out: int, specs: list[OpSpec], widths: list[int]) -> None:
        super().__init__()
        self.widths, self.specs, self.spatial = sorted(widths), list(specs), spatial
        self.c_in, self.n_out, full = c_in, n_out, max(widths)
        blocks = [make_op(s, full, len(spatial)) for s in specs]
        self.norms: list[MaskedLayerNorm] = []
        for b in blocks:
            if isinstance(b, SelfAttention):
                norm = MaskedLayerNorm(b.norm, self.widths)
                b.norm = norm  # type: ignore[assignment]
                self.norms.append(norm)
        self.net = HybridNet(c_in, spatial, n_out, full, blocks, dropout=0.0)
        masks = torch.zeros(len(self.widths), full)
        for i, w in enumerate(self.widths):
            masks[i, :w] = 1.0
        self.register_buffer("masks", masks)
        self.beta = nn.Parameter(1e-3 * torch.randn(len(self.widths)))

    def gates(self) -> torch.Tensor:
        return torch.softmax(self.beta, dim=-1)

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def forward(self, x: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
        g = self.gates() if gates is None else gates
        masks: torch.Tensor = self.masks  # type: ignore[assignment]
        mask = (g[:, None] * masks).sum(dim=0).view(1, -1, *([1] * len(self.spatial)))
        for norm in self.norms:
            norm.gates = g
        h = self.net.features(x) * mask
        for block, spec in zip(self.net.blocks, self.specs, strict=True):
            h = h if spec.op == "skip" else block(h) * mask
        return self.net.head(h)

    def narrow(self, width: int) -> HybridNet:
        """The network of one width whose parameters are this one's first ``width`` channels."""
        small = HybridNet(
            self.c_in,
            self.spatial,
            self.n_out,
            width,
            [make_op(s, width, len(self.spatial)) for s in self.specs],
            dropout=0.0,
        )
        wide = self.net.state_dict()
        state = {}
        length = math.prod(self.spatial)
        for key, want in small.state_dict().items():
            have = wide[key]
            if key == "head.2.weight":  # (n_out, width x positions), channel-major
                have = have.reshape(have.shape[0], -1, length)[:, :width].reshape(have.shape[0], -1)
            else:
                have = have[tuple(slice(0, n) for n in want.shape)] if want.dim() else have
            state[key] = have.clone()
        small.load_state_dict(state)
        return small
