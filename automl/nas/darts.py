"""One-shot architecture search by DARTS (Liu et al., 2019), first order, over the torch_hybrid space.

Written here by hand because nothing in the stack does it: Optuna only samples, and the
maintained DARTS implementations live in Katib and NNI (their own trial runtimes, not a
library a trial can call); the reference code is unmaintained and tied to CIFAR cells.
The method is small enough to own:

- **supernet**: the torch_hybrid network (automl.nas.hybrid) whose every position is a
  :class:`MixedOp`, the softmax(alpha)-weighted sum of all candidate operations (conv 3,
  conv 5, attention for each configured heads x key width, skip);
- **alternating first-order optimisation**: the training rows are split in two stratified
  halves; each step updates the architecture weights alpha (Adam) on a batch of the second
  half, then the network weights (AdamW) on a batch of the first; the first
  ``warmup_epochs`` train the weights only;
- **cost penalty**: every candidate operation's latency, parameter memory and activation
  peak is measured once, alone, on a batch of the measurement size (the same measurements
  as automl.measure); the expected cost under the softmax (latency and parameters add up,
  the activation peak is the largest position's expectation) is penalized where it exceeds
  the study's ``multi_objective`` constraint limits (hinge, relative to the limit), weighted
  by ``nas.penalty``;
- **derivation**: the argmax operation per position; if the derived network's estimated
  cost still breaks a limit, positions are switched to cheaper candidates, the one losing
  the least architecture weight per cost saved first (skip is always cheapest, so this ends).

The derived architecture becomes a trial of the study (automl.nas.darts_trial) and the normal
``retrain_best`` path trains it from scratch. CUDA is used when ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import functools
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
from automl.measure import MB, activation_peak_bytes, median_latency_ms
from automl.nas.base import device, seed_everything
from automl.nas.hybrid import HybridNet, OpSpec, input_layout, make_op, reshape_rows

#: derived networks' settings the supernet does not search (within the family's ranges)
DERIVED_DROPOUT, DERIVED_WEIGHT_DECAY = 0.1, 1e-5
COSTS = ("latency_ms", "memory_mb")


def candidates(heads: list[int], key_dims: list[int]) -> list[OpSpec]:
    """The operations every position mixes: conv 3, conv 5, attention per (heads, key width), skip."""
    attn = [OpSpec("attn", int(h), int(k)) for h in heads for k in key_dims]
    return [OpSpec("conv3"), OpSpec("conv5"), *attn, OpSpec("skip")]


class MixedOp(nn.Module):
    """The continuous relaxation of one position: sum_j w_j op_j(x) for weights w (a softmax row)."""

    def __init__(self, specs: list[OpSpec], width: int, ndim: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(s, width, ndim) for s in specs)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))  # type: ignore[assignment]
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

    def mix(self) -> torch.Tensor:
        return torch.softmax(self.alpha, dim=-1)

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net.features(x)
        for block, w in zip(self.net.blocks, self.mix(), strict=True):
            h = block(h, w)
        return self.net.head(h)


@dataclass
class CostTable:
    """Measured costs: the stem and head (``base_*``) and each candidate operation alone."""

    base_latency: float
    base_param_mb: float
    base_act_mb: float
    latency: list[float]
    param_mb: list[float]
    act_mb: list[float]

    def expected(self, mix: torch.Tensor) -> dict[str, torch.Tensor]:
        """Expected latency and memory of the network for a (positions x candidates) weight matrix."""
        lat, par, act = (torch.as_tensor(v, dtype=mix.dtype, device=mix.device) for v in self._columns())
        act_peak = torch.clamp((mix * act).sum(dim=1).max(), min=self.base_act_mb)
        return {
            "latency_ms": self.base_latency + (mix * lat).sum(),
            "memory_mb": self.base_param_mb + (mix * par).sum() + act_peak,
        }

    def of_choice(self, choice: list[int]) -> dict[str, float]:
        onehot = torch.zeros(len(choice), len(self.latency))
        onehot[torch.arange(len(choice)), torch.as_tensor(choice)] = 1.0
        return {k: float(v) for k, v in self.expected(onehot).items()}

    def _columns(self) -> tuple[list[float], list[float], list[float]]:
        return self.latency, self.param_mb, self.act_mb


def _bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def measure_costs(
    specs: list[OpSpec], c_in: int, spatial: tuple[int, ...], n_out: int, width: int, batch: int, repeats: int = 7
) -> CostTable:
    """Measure each candidate operation alone (eval mode, on the device) on a (batch, width, *spatial) map."""
    dev = device()
    sync = None
    if dev.type == "cuda":

        def sync() -> None:
            torch.cuda.synchronize(dev)

    x = torch.randn(batch, width, *spatial, device=dev)
    lat, par, act = [], [], []
    for spec in specs:
        op = make_op(spec, width, len(spatial)).to(dev).eval()
        with torch.no_grad():
            lat.append(median_latency_ms(functools.partial(op, x), repeats, sync=sync))
        par.append(_bytes(op) / MB)
        act.append(activation_peak_bytes(op, x) / MB)
    base = HybridNet(c_in, spatial, n_out, width, [], 0.0).to(dev).eval()
    xb = torch.randn(batch, c_in, *spatial, device=dev)
    with torch.no_grad():
        base_lat = median_latency_ms(lambda: base(xb), repeats, sync=sync)
    return CostTable(base_lat, _bytes(base) / MB, activation_peak_bytes(base, xb) / MB, lat, par, act)


def limits_of(config: StudyConfig) -> dict[str, float]:
    """The constraint upper limits on latency and memory (from ``multi_objective.constraints``)."""
    mo = config.multi_objective
    if mo is None:
        return {}
    return {name: bound for name, op, bound in mo.parsed_constraints() if name in COSTS and op == "<="}


def cost_penalty(expected: dict[str, torch.Tensor], limits: dict[str, float]) -> torch.Tensor:
    """sum over the limited costs of relu(expected / limit - 1)."""
    zero = torch.zeros((), device=next(iter(expected.values())).device)
    return sum((torch.relu(expected[k] / v - 1.0) for k, v in limits.items()), zero)


def derive(alpha: np.ndarray, table: CostTable, limits: dict[str, float]) -> list[int]:
    """The strongest candidate per position, then cheaper switches until the estimated costs meet ``limits``.

    Skip is left out of the first choice: first-order DARTS drifts towards parameter-free operations
    (Zela et al., 2020; P-DARTS drops skips for the same reason), and here skip is what the cost
    repair falls back to. With skip as the last candidate, the first choice is the argmax of the others.
    """
    ranked = alpha[:, :-1] if alpha.shape[1] > 1 else alpha
    choice = [int(i) for i in np.argmax(ranked, axis=1)]
    total = np.asarray(table.latency) / max(limits.get("latency_ms", math.inf), 1e-9) + (
        np.asarray(table.param_mb) + np.asarray(table.act_mb)
    ) / max(limits.get("memory_mb", math.inf), 1e-9)

    def over(c: list[int]) -> bool:
        costs = table.of_choice(c)
        return any(costs[k] > v for k, v in limits.items())

    while limits and over(choice):
        best: tuple[float, int, int] | None = None
        for pos, cur in enumerate(choice):
            for cand in range(alpha.shape[1]):
                saved = total[cur] - total[cand]
                if saved > 0:
                    loss = (alpha[pos, cur] - alpha[pos, cand]) / saved
                    if best is None or loss < best[0]:
                        best = (loss, pos, cand)
        if best is None:
            break  # nothing cheaper anywhere: the stem and head alone break the limit
        choice[best[1]] = best[2]
    return choice


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

    def summary(self) -> dict[str, Any]:
        return {
            "architecture": [s.label for s in self.specs],
            "candidates": self.candidates,
            "alpha": [[round(a, 4) for a in row] for row in self.alpha],
            "estimated": self.estimated,
            "train_samples": self.train_samples,
            "seconds": round(self.seconds, 2),
            "device": self.device,
        }


def _batches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [b for b in (order[s : s + size] for s in range(0, n, size)) if len(b) >= 2]


def search(
    config: StudyConfig,
    X: np.ndarray,
    y: np.ndarray,
    positions: int = 3,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> DartsResult:
    """Run DARTS on preprocessed rows ``X`` (columns as the dataset's image or sequence shape) and labels ``y``."""
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
    specs = candidates(list(nas.heads), list(nas.key_dims))
    mo = config.multi_objective
    table = measure_costs(specs, c_in, spatial, len(classes), nas.width, mo.latency_batch_size if mo else 256)
    limits = limits_of(config) if nas.penalty > 0 else {}
    net = Supernet(c_in, spatial, len(classes), nas.width, specs, positions).to(dev)
    w_opt = torch.optim.AdamW(net.network_parameters(), lr=nas.weight_lr, weight_decay=DERIVED_WEIGHT_DECAY)
    a_opt = torch.optim.Adam([net.alpha], lr=nas.arch_lr, betas=(0.5, 0.999), weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    curve: list[dict[str, float]] = []
    for epoch in range(1, nas.epochs + 1):
        net.train()
        arch_on = epoch > nas.warmup_epochs
        a_batches = _batches(len(idx_a), nas.batch_size, rng)
        losses, pens = [], []
        for i, bw in enumerate(_batches(len(idx_w), nas.batch_size, rng)):
            if arch_on and a_batches:
                ba = torch.as_tensor(idx_a[a_batches[i % len(a_batches)]], device=dev)
                a_opt.zero_grad()
                pen = nas.penalty * cost_penalty(table.expected(net.mix()), limits) if limits else None
                a_loss = loss_fn(net(Xt[ba]), yt[ba]) + (pen if pen is not None else 0.0)
                a_loss.backward()
                a_opt.step()
                pens.append(float(pen.detach()) if pen is not None else 0.0)
            b = torch.as_tensor(idx_w[bw], device=dev)
            w_opt.zero_grad()
            loss = loss_fn(net(Xt[b]), yt[b])
            loss.backward()
            nn.utils.clip_grad_norm_(net.network_parameters(), 5.0)
            w_opt.step()
            losses.append(float(loss.detach()))
        point = {"epoch": float(epoch), "train_loss": float(np.mean(losses)), **_validate(net, Xt, yt, idx_a)}
        mix = net.mix().detach()
        point.update({f"expected_{k}": float(v) for k, v in table.expected(mix).items()})
        point["penalty"] = float(np.mean(pens)) if pens else 0.0
        point["alpha_entropy"] = float(-(mix * mix.clamp_min(1e-12).log()).sum(dim=1).mean())
        curve.append(point)
        if on_epoch is not None:
            on_epoch(point)
    alpha = net.alpha.detach().cpu().numpy()
    choice = derive(alpha, table, limits_of(config))  # the limits hold for the derived network, penalty or not
    chosen = [specs[i] for i in choice]
    return DartsResult(
        specs=chosen,
        params=family_params(chosen, nas.width, nas.weight_lr, nas.batch_size),
        alpha=alpha.tolist(),
        candidates=[s.label for s in specs],
        estimated=table.of_choice(choice),
        curve=curve,
        train_samples=nas.epochs * len(y_idx),
        seconds=time.perf_counter() - started,
        device=dev.type,
    )


def _validate(net: Supernet, Xt: torch.Tensor, yt: torch.Tensor, idx: np.ndarray) -> dict[str, float]:
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
