"""The cost model of the DARTS solver (automl.nas.darts): each candidate operation's latency and memory,
measured once alone, their expectation under the architecture weights, the penalty on the constraint
limits and the derivation that repairs an argmax choice until its estimated cost meets them."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from automl.config import StudyConfig
from automl.measure import MB, activation_peak_bytes, median_latency_ms
from automl.nas.base import device
from automl.nas.hybrid import HybridNet, OpSpec, make_op

COSTS = ("latency_ms", "memory_mb")
#: the derived network's estimated latency must stay below this share of the limit: on a CPU other jobs
#: share, one network's median latency (7 repeats, batch 256) measured 22-30 ms from one call to the next,
#: and the retrained networks of seeds 0-4 measured up to twice their estimate (load average 5-9 on 2 cores)
LATENCY_MARGIN = 0.5


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


def derivation_limits(config: StudyConfig) -> dict[str, float]:
    """The limits the derived network's estimated cost must meet: the constraints', latency's scaled by
    :data:`LATENCY_MARGIN` (a latency is a noisy median: the trial measures it again, and must meet it)."""
    return {k: v * LATENCY_MARGIN if k == "latency_ms" else v for k, v in limits_of(config).items()}


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
