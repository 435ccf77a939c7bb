"""One-shot architecture search by DARTS (Liu et al., 2019), first order, over the torch_hybrid space.

Written here by hand because nothing in the stack does it: Optuna only samples, and the
maintained DARTS implementations live in Katib and NNI (their own trial runtimes, not a
library a trial can call); the reference code is unmaintained and tied to CIFAR cells.
The method is small enough to own:

- **supernet**: the torch_hybrid network (automl.nas.hybrid) at the narrow proxy width
  ``nas.width`` whose every position is a :class:`MixedOp`, the softmax(alpha)-weighted sum
  of all candidate operations (conv 3, conv 5, attention for each configured heads x key
  width, skip);
- **alternating first-order optimisation**: the training rows are split in two stratified
  halves; each step updates the architecture weights alpha (Adam) on a batch of the second
  half, then the network weights (AdamW) on a batch of the first; the first
  ``warmup_epochs`` train the weights only;
- **cheaper supernet**: after each epoch of architecture training, candidates weighing less
  than ``nas.prune_below`` of the uniform weight leave their position's mix (P-DARTS' search
  space approximation, done per epoch; never the strongest, never skip), so later epochs
  compute fewer operations; and the supernet stops once the derived operations have not
  changed for ``nas.patience`` epochs;
- **cost penalty**: every candidate operation's latency, parameter memory and activation
  peak is measured once, alone, on a batch of the measurement size (the same measurements
  as automl.measure); the expected cost under the softmax (latency and parameters add up,
  the activation peak is the largest position's expectation) is penalized where it exceeds
  the study's ``multi_objective`` constraint limits (hinge, relative to the limit), weighted
  by ``nas.penalty``;
- **derivation**: the argmax operation per position; if the derived network's estimated
  cost still breaks a limit, positions are switched to cheaper candidates, the one losing
  the least architecture weight per cost saved first (skip is always cheapest, so this ends).
  Latency is held to ``darts_costs.LATENCY_MARGIN`` (half) of its limit: a median measured on a
  shared CPU moved by up to 2x between calls here, and the trial measures it again and must
  meet it;
- **width stage**: the derived operations are rebuilt at the widest of ``nas.widths`` that
  the limits allow, its channels masked by a softmax(beta)-weighted mix of width masks
  (FBNetV2's channel masking: every width is the widest layer's first channels, so one
  set of weights serves all and the mixed network costs one forward, not one per width;
  :class:`WidthSupernet`), trained ``nas.width_epochs`` epochs as the supernet (alternating,
  the penalty on the expected cost over the widths); the width is its argmax.

Why two stages and not the width in the first supernet: the width stage trains only the
derived cell (one operation per position, not all candidates), so its cost at width 32 is
that of one small network for two epochs; a width relaxation inside the supernet would
run every candidate, attention included, at the widest width. Searching operations on a
narrow proxy and then widening is what DARTS itself does (8 cells of 16 channels searched,
20 cells of 36 evaluated). Measured (``python -m benchmarks.darts``, 2 shared CPU cores;
settings chosen on seeds 0-4, docs/benchmarks.md reports seeds 5-9): with the width fixed at
the proxy's 8, DARTS' sequence networks were 4.07 pp behind the sampled search (every
sampled winner had width 32); the width stage picks 32 on sequences (weight 0.6 of 1 on
every seed 0-4) and closes the gap; on images the latency limit leaves width 8 alone
for conv 5 cells (widths 16 and 32 estimated at 22-30 and 57-78 ms against 20 x 0.5), so
the stage costs nothing there. On images, candidate dropping (both attentions leave the mix
after the first architecture epoch on seeds 0-4) and the early stop cut the supernet's CPU
time by about half.

The derived architecture becomes a trial of the study (automl.nas.darts_trial) and the normal
``retrain_best`` path trains it from scratch. CUDA is used when ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from automl.config import StudyConfig
from automl.nas.base import device, seed_everything
from automl.nas.darts_costs import (
    COSTS,
    cost_penalty,
    derivation_limits,
    derive,
    limits_of,
    measure_costs,
)
from automl.nas.darts_width import WidthSupernet
from automl.nas.hybrid import HybridNet, OpSpec, input_layout, make_op, reshape_rows

#: derived networks' settings the supernet does not search (within the family's ranges)
DERIVED_DROPOUT, DERIVED_WEIGHT_DECAY = 0.1, 1e-5
#: rows of the second half that the per-epoch validation (the curve) scores; the search never reads it
VALIDATION_ROWS = 256


def candidates(heads: list[int], key_dims: list[int]) -> list[OpSpec]:
    """The operations every position mixes: conv 3, conv 5, attention per (heads, key width), skip."""
    attn = [OpSpec("attn", int(h), int(k)) for h in heads for k in key_dims]
    return [OpSpec("conv3"), OpSpec("conv5"), *attn, OpSpec("skip")]


class MixedOp(nn.Module):
    """The continuous relaxation of one position: sum_j w_j op_j(x) for weights w (a softmax row)."""

    def __init__(self, specs: list[OpSpec], width: int, ndim: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(s, width, ndim) for s in specs)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: list[bool] | None = None) -> torch.Tensor:
        """``active``: the candidates still in the mix (the others' weights are exactly 0, so leaving
        them out changes nothing but the cost); all when None."""
        on = active if active is not None else [True] * len(self.ops)
        terms = [w * op(x) for w, op, a in zip(weights, self.ops, on, strict=True) if a]
        out: torch.Tensor = sum(terms[1:], terms[0])
        return out


class Supernet(nn.Module):
    """The hybrid network with a :class:`MixedOp` per position and the architecture weights ``alpha``."""

    def __init__(
        self, c_in: int, spatial: tuple[int, ...], n_out: int, width: int, specs: list[OpSpec], positions: int
    ) -> None:
        super().__init__()
        blocks = [MixedOp(specs, width, len(spatial)) for _ in range(positions)]
        self.net = HybridNet(c_in, spatial, n_out, width, blocks, dropout=0.0)
        self.alpha = nn.Parameter(1e-3 * torch.randn(positions, len(specs)))
        self.specs = list(specs)
        self.active = [[True] * len(specs) for _ in range(positions)]

    def mix(self) -> torch.Tensor:
        """softmax(alpha) per position over the candidates still active (the dropped ones weigh 0)."""
        off = torch.as_tensor([[not a for a in row] for row in self.active], device=self.alpha.device)
        return torch.softmax(self.alpha.masked_fill(off, -math.inf), dim=-1)

    def prune(self, fraction: float) -> int:
        """Drop, per position, the candidates weighing less than ``fraction`` of the uniform weight
        (never the strongest, never skip: the derivation's fallback); returns how many were dropped."""
        dropped = 0
        for row, weights in zip(self.active, self.mix().detach().cpu().tolist(), strict=True):
            bar, top = fraction / sum(row), max(range(len(row)), key=lambda j: weights[j])
            for j, spec in enumerate(self.specs):
                if row[j] and j != top and spec.op != "skip" and weights[j] < bar:
                    row[j] = False
                    dropped += 1
        return dropped

    def ranked_alpha(self) -> np.ndarray:
        """alpha for the derivation: a dropped candidate ranks below every active one of its position."""
        alpha = self.alpha.detach().cpu().numpy().copy()
        for i, row in enumerate(self.active):
            floor = min(a for a, on in zip(alpha[i], row, strict=True) if on) - 1.0
            alpha[i] = [a if on else floor for a, on in zip(alpha[i], row, strict=True)]
        return alpha

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net.features(x)
        for block, w, on in zip(self.net.blocks, self.mix(), self.active, strict=True):
            h = block(h, w, on)
        return self.net.head(h)


@dataclass
class DartsResult:
    """What the search found and what it cost."""

    specs: list[OpSpec]
    params: dict[str, Any]  # the derived architecture as torch_hybrid parameters
    alpha: list[list[float]]
    candidates: list[str]
    estimated: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    train_samples: int = 0  # supernet epochs x rows (both halves)
    seconds: float = 0.0
    device: str = "cpu"
    width: int = 0  # the derived network's width (the width stage's choice)
    widths: list[int] = field(default_factory=list)
    width_weights: list[float] = field(default_factory=list)  # softmax(beta) over ``widths``
    width_curve: list[dict[str, float]] = field(default_factory=list)
    op_epochs: int = 0  # supernet epochs run (fewer than nas.epochs when it stopped early)

    def summary(self) -> dict[str, Any]:
        return {
            "architecture": [s.label for s in self.specs],
            "candidates": self.candidates,
            "alpha": [[round(a, 4) for a in row] for row in self.alpha],
            "estimated": self.estimated,
            "width": self.width,
            "width_weights": {str(w): round(g, 4) for w, g in zip(self.widths, self.width_weights, strict=True)},
            "op_epochs": self.op_epochs,
            "width_epochs": len(self.width_curve),
            "train_samples": self.train_samples,
            "seconds": round(self.seconds, 2),
            "device": self.device,
        }


def _batches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [b for b in (order[s : s + size] for s in range(0, n, size)) if len(b) >= 2]


@dataclass
class _Halves:
    """The rows on the device and their two stratified halves (network weights / architecture weights)."""

    X: torch.Tensor
    y: torch.Tensor
    idx_w: np.ndarray
    idx_a: np.ndarray
    batch_size: int
    rng: np.random.Generator
    idx_v: np.ndarray  # the rows of the per-epoch validation: at most VALIDATION_ROWS of the second half


def _epoch(
    net: nn.Module,
    data: _Halves,
    w_opt: torch.optim.Optimizer,
    a_opt: torch.optim.Optimizer | None,
    penalty: Callable[[], torch.Tensor | None],
) -> tuple[float, float]:
    """One epoch of first-order DARTS: per batch an architecture step (when ``a_opt``) on the second
    half, then a weight step on the first. Returns (mean training loss, mean penalty)."""
    net.train()
    loss_fn = nn.CrossEntropyLoss()
    dev = data.X.device
    a_batches = _batches(len(data.idx_a), data.batch_size, data.rng)
    params = [p for g in w_opt.param_groups for p in g["params"]]
    losses, pens = [], []
    for i, bw in enumerate(_batches(len(data.idx_w), data.batch_size, data.rng)):
        if a_opt is not None and a_batches:
            ba = torch.as_tensor(data.idx_a[a_batches[i % len(a_batches)]], device=dev)
            a_opt.zero_grad()
            pen = penalty()
            a_loss = loss_fn(net(data.X[ba]), data.y[ba]) + (pen if pen is not None else 0.0)
            a_loss.backward()
            a_opt.step()
            pens.append(float(pen.detach()) if pen is not None else 0.0)
        b = torch.as_tensor(data.idx_w[bw], device=dev)
        w_opt.zero_grad()
        loss = loss_fn(net(data.X[b]), data.y[b])
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        w_opt.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses)), float(np.mean(pens)) if pens else 0.0


def _optimizers(
    weights: list[nn.Parameter], arch: nn.Parameter, weight_lr: float, arch_lr: float
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    w_opt = torch.optim.AdamW(weights, lr=weight_lr, weight_decay=DERIVED_WEIGHT_DECAY)
    a_opt = torch.optim.Adam([arch], lr=arch_lr, betas=(0.5, 0.999), weight_decay=1e-3)
    return w_opt, a_opt


def _entropy(mix: torch.Tensor) -> float:
    return float(-(mix * mix.clamp_min(1e-12).log()).sum(dim=-1).mean())


def search(
    config: StudyConfig,
    X: np.ndarray,
    y: np.ndarray,
    positions: int = 3,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> DartsResult:
    """Run DARTS on preprocessed rows ``X`` (columns as the dataset's image or sequence shape) and labels ``y``:
    the operation supernet at the proxy width, the derivation, then the width stage for the derived cell."""
    nas, started = config.nas, time.perf_counter()
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    dev = device()
    if dev.type == "cpu":
        torch.set_num_threads(1)  # one core per trial slot, as the other trials
    image, sequence = config.dataset.image_shape, config.dataset.sequence_shape
    c_in, spatial = input_layout(image, sequence)
    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    idx_w, idx_a = train_test_split(np.arange(len(y_idx)), test_size=0.5, stratify=y_idx, random_state=config.seed)
    Xt = torch.as_tensor(reshape_rows(np.asarray(X, dtype=np.float32), image, sequence)).to(dev)
    yt = torch.as_tensor(y_idx, dtype=torch.long).to(dev)
    idx_v = idx_a if len(idx_a) <= VALIDATION_ROWS else rng.choice(idx_a, VALIDATION_ROWS, replace=False)
    data = _Halves(Xt, yt, idx_w, idx_a, nas.batch_size, rng, idx_v)
    specs = candidates(list(nas.heads), list(nas.key_dims))
    mo = config.multi_objective
    batch = mo.latency_batch_size if mo else 256
    table = measure_costs(specs, c_in, spatial, len(classes), nas.width, batch)
    limits = limits_of(config) if nas.penalty > 0 else {}
    hard = derivation_limits(config)  # the limits hold for the derived network, penalty or not
    net = Supernet(c_in, spatial, len(classes), nas.width, specs, positions).to(dev)
    w_opt, a_opt = _optimizers(net.network_parameters(), net.alpha, nas.weight_lr, nas.arch_lr)
    curve: list[dict[str, float]] = []
    last: list[int] | None = None
    stable = 0
    for epoch in range(1, nas.epochs + 1):
        arch_on = epoch > nas.warmup_epochs

        def op_penalty() -> torch.Tensor | None:
            return nas.penalty * cost_penalty(table.expected(net.mix()), limits) if limits else None

        train_loss, pen = _epoch(net, data, w_opt, a_opt if arch_on else None, op_penalty)
        point = {"epoch": float(epoch), "train_loss": train_loss, **_validate(net, Xt, yt, idx_v)}
        mix = net.mix().detach()
        point.update({f"expected_{k}": float(v) for k, v in table.expected(mix).items()})
        point["penalty"] = pen
        point["alpha_entropy"] = _entropy(mix)
        curve.append(point)
        if on_epoch is not None:
            on_epoch(point)
        if arch_on and nas.prune_below > 0:
            point["dropped"] = float(net.prune(nas.prune_below))
        if arch_on:  # early stop: the derived operations stopped changing
            now = derive(net.ranked_alpha(), table, hard)
            stable = stable + 1 if now == last else 0
            last = now
            if nas.patience and stable >= nas.patience:
                break
    op_epochs = len(curve)
    alpha = net.ranked_alpha()
    choice = derive(alpha, table, hard)
    chosen = [specs[i] for i in choice]
    estimated = table.of_choice(choice)
    width, gates = int(nas.width), [1.0]
    width_curve: list[dict[str, float]] = []
    widths: list[int] = sorted({int(w) for w in nas.widths})
    if nas.width_epochs > 0 and len(widths) > 1:
        width, chosen, estimated, widths, gates, width_curve = _width_stage(
            config, data, chosen, alpha, specs, widths, c_in, spatial, len(classes), batch, limits, hard
        )
    else:
        widths = [int(nas.width)]
    return DartsResult(
        specs=chosen,
        params=family_params(chosen, width, nas.weight_lr, nas.batch_size),
        alpha=alpha.tolist(),
        candidates=[s.label for s in specs],
        estimated=estimated,
        curve=curve,
        train_samples=(op_epochs + len(width_curve)) * len(y_idx),
        seconds=time.perf_counter() - started,
        device=dev.type,
        width=width,
        widths=widths,
        width_weights=gates,
        width_curve=width_curve,
        op_epochs=op_epochs,
    )


def _network_costs(
    specs: list[OpSpec], c_in: int, spatial: tuple[int, ...], n_out: int, width: int, batch: int
) -> dict[str, float]:
    """The estimated latency and memory of the network of ``specs`` at ``width`` (the cost model's sum)."""
    unique = list(dict.fromkeys(specs))
    table = measure_costs(unique, c_in, spatial, n_out, width, batch)
    return table.of_choice([unique.index(s) for s in specs])


def _width_stage(
    config: StudyConfig,
    data: _Halves,
    chosen: list[OpSpec],
    alpha: np.ndarray,
    specs: list[OpSpec],
    widths: list[int],
    c_in: int,
    spatial: tuple[int, ...],
    n_out: int,
    batch: int,
    limits: dict[str, float],
    hard: dict[str, float],
) -> tuple[int, list[OpSpec], dict[str, float], list[int], list[float], list[dict[str, float]]]:
    """Choose the derived cell's width: a :class:`WidthSupernet` trained as the supernet (the same halves,
    alternating, the cost penalty on the expected cost over the widths), then the strongest width whose
    estimated cost meets the limits; if none does, the narrowest with its operations repaired by :func:`derive`."""
    nas, dev = config.nas, data.X.device
    every = [_network_costs(chosen, c_in, spatial, n_out, w, batch) for w in widths]
    keep = [i for i, c in enumerate(every) if all(c[k] <= v for k, v in hard.items())]
    if not keep:  # no width meets the limits with these operations: repair them at the narrowest
        table = measure_costs(specs, c_in, spatial, n_out, widths[0], batch)
        choice = derive(alpha, table, hard)
        return widths[0], [specs[i] for i in choice], table.of_choice(choice), widths[:1], [1.0], []
    # a width whose estimated cost breaks a limit is never chosen: the widest network is the widest
    # feasible one (cheaper to train), and with one feasible width nothing is left to choose
    widths, costs = [widths[i] for i in keep], [every[i] for i in keep]
    if len(widths) == 1:
        return widths[0], chosen, costs[0], widths, [1.0], []
    cost_t = {k: torch.as_tensor([c[k] for c in costs], dtype=torch.float32, device=dev) for k in COSTS}
    net = WidthSupernet(c_in, spatial, n_out, chosen, widths).to(dev)
    w_opt, a_opt = _optimizers(net.network_parameters(), net.beta, nas.weight_lr, nas.arch_lr)

    def width_penalty() -> torch.Tensor | None:
        if not limits:
            return None
        g = net.gates()
        return nas.penalty * cost_penalty({k: (g * cost_t[k]).sum() for k in COSTS}, limits)

    curve: list[dict[str, float]] = []
    for epoch in range(1, nas.width_epochs + 1):
        train_loss, pen = _epoch(net, data, w_opt, a_opt, width_penalty)
        g = net.gates().detach()
        point = {"epoch": float(epoch), "train_loss": train_loss, **_validate(net, data.X, data.y, data.idx_v)}
        point.update({f"width_{w}": float(v) for w, v in zip(widths, g.tolist(), strict=True)})
        point["penalty"] = pen
        curve.append(point)
    gates = net.gates().detach().cpu().tolist()
    best = int(np.argmax(gates))
    return widths[best], chosen, costs[best], widths, gates, curve


def _validate(net: nn.Module, Xt: torch.Tensor, yt: torch.Tensor, idx: np.ndarray) -> dict[str, float]:
    net.eval()
    with torch.no_grad():
        b = torch.as_tensor(idx, device=Xt.device)
        out = net(Xt[b])
        loss = float(nn.functional.cross_entropy(out, yt[b]))
        acc = float((out.argmax(dim=1) == yt[b]).float().mean())
    net.train()
    return {"val_loss": loss, "val_accuracy": acc}


def family_params(specs: list[OpSpec], width: int, lr: float, batch_size: int) -> dict[str, Any]:
    """The derived architecture as torch_hybrid's trial parameters (what the sampled search would suggest)."""
    params: dict[str, Any] = {"width": width}
    for i, s in enumerate(specs):
        params[f"op_{i}"] = s.op
        if s.op == "attn":
            params[f"heads_{i}"], params[f"key_dim_{i}"] = s.heads, s.key_dim
    params.update(dropout=DERIVED_DROPOUT, lr=lr, weight_decay=DERIVED_WEIGHT_DECAY, batch_size=batch_size)
    return params
