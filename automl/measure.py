"""Measured costs of a trained model: inference latency, memory and size.

- latency: median wall milliseconds to predict one batch, after warm-up, on the
  device the model runs on (CUDA is synchronized around each call);
- memory: torch on CUDA: peak allocated bytes during one forward pass (parameters
  included); torch on CPU: parameters and buffers plus the peak of live activations,
  computed from the real tensors of one forward pass (hooks record every module's
  input and output sizes, inputs that a residual block keeps alive, and the score matrix
  an attention materializes); other
  models: their serialized size, which is what a process holds to predict;
- n_params: trained parameters (torch), leaves (LightGBM), tree nodes or coefficients (scikit-learn).
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

MB = 1024.0 * 1024.0

_FIT = threading.local()


@contextmanager
def fitting() -> Iterator[None]:
    """Count this thread's CPU seconds (``time.thread_time``) inside the block as model fitting.

    The stages wrap their model fits in it (feature selection's models, the final fit, the ensemble's
    refits); :func:`fit_cpu_seconds` is the running total, so CPU outside fitting (data handling, DFS,
    storage, MLflow, logging threads) is the rest of the process's CPU. Trials, which run one thread
    each (LightGBM ``num_threads=1``, scikit-learn ``n_jobs=1``), measure the same way
    (``fit_cpu_s`` of each trial, :func:`automl.objective.evaluate_trial`). Nested blocks count once.
    """
    depth = getattr(_FIT, "depth", 0)
    _FIT.depth = depth + 1
    started = time.thread_time()
    try:
        yield
    finally:
        _FIT.depth = depth
        if depth == 0:
            _FIT.total = fit_cpu_seconds() + time.thread_time() - started


def fit_cpu_seconds() -> float:
    """CPU seconds this thread has spent inside :func:`fitting` blocks."""
    total: float = getattr(_FIT, "total", 0.0)
    return total


def median_latency_ms(
    call: Callable[[], Any], repeats: int = 15, warmup: int = 3, sync: Callable[[], None] | None = None
) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        t0 = time.perf_counter()
        call()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def _tensor_bytes(obj: Any) -> int:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (tuple, list)):
        return sum(_tensor_bytes(o) for o in obj)
    return 0


def activation_peak_bytes(net: Any, x: Any) -> int:
    """Peak bytes of live activations in one forward pass (no autograd), from the real tensors.

    At each leaf module its input and output are alive at once, plus any input that an
    enclosing block keeps for a residual sum (modules with ``holds_input = True``), plus what a
    module says it held inside during the call (``scratch_bytes``: an attention's score matrix).
    """
    import torch

    held: list[int] = []
    peak = [0]
    handles = []

    def pre(module: Any, inputs: Any) -> None:
        if getattr(module, "holds_input", False):
            held.append(_tensor_bytes(inputs))

    def post(module: Any, inputs: Any, output: Any) -> None:
        if not list(module.children()):
            scratch = int(getattr(module, "scratch_bytes", 0))  # e.g. attention's score matrix, inside the module
            peak[0] = max(peak[0], _tensor_bytes(inputs) + _tensor_bytes(output) + sum(held) + scratch)
        if getattr(module, "holds_input", False):
            held.pop()

    for m in net.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return int(peak[0])


def torch_costs(net: Any, batch: np.ndarray, repeats: int = 15) -> dict[str, float]:
    """Latency, memory and parameter count of ``net`` (already on its device, eval mode) for one batch."""
    import torch

    dev = next(net.parameters()).device
    n_params = sum(p.numel() for p in net.parameters())
    param_bytes = sum(_tensor_bytes(p) for p in net.parameters()) + sum(_tensor_bytes(b) for b in net.buffers())
    x = torch.as_tensor(batch).to(dev)

    def forward() -> None:
        with torch.no_grad():
            net(x)

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        base = torch.cuda.memory_allocated(dev) - param_bytes - _tensor_bytes(x)
        torch.cuda.reset_peak_memory_stats(dev)
        forward()
        torch.cuda.synchronize(dev)
        memory = torch.cuda.max_memory_allocated(dev) - base
        latency = median_latency_ms(forward, repeats, sync=lambda: torch.cuda.synchronize(dev))
    else:
        memory = param_bytes + activation_peak_bytes(net, x)
        latency = median_latency_ms(forward, repeats)
    return {"latency_ms": latency, "memory_mb": memory / MB, "n_params": float(n_params)}


def lightgbm_costs(booster: Any, batch: Any, repeats: int = 15, num_iteration: int | None = None) -> dict[str, float]:
    """Latency of ``booster.predict`` on a batch (one thread, as trials run), model text size, leaf count."""
    text = booster.model_to_string(num_iteration=num_iteration)
    leaves = sum(int(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("num_leaves="))
    latency = median_latency_ms(lambda: booster.predict(batch, num_iteration=num_iteration, num_threads=1), repeats)
    return {"latency_ms": latency, "memory_mb": len(text.encode()) / MB, "n_params": float(leaves)}


def sklearn_n_params(model: Any) -> int:
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(est, "estimators_"):
        return int(sum(t.tree_.node_count for t in np.ravel(est.estimators_) if hasattr(t, "tree_")))
    if hasattr(est, "booster_"):
        return int(lightgbm_costs(est.booster_, np.zeros((1, est.n_features_in_)), repeats=1)["n_params"])
    if hasattr(est, "state_"):
        return int(sum(np.asarray(v).size for v in est.state_.values()))
    size = 0
    for attr in ("coef_", "intercept_"):
        if hasattr(est, attr):
            size += int(np.asarray(getattr(est, attr)).size)
    return size


def model_costs(model: Any, batch: Any, repeats: int = 15) -> dict[str, float]:
    """Costs of a fitted scikit-learn model or pipeline (a torch estimator inside is measured as torch)."""
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(est, "measure"):  # automl.nas estimators: measured on their device
        pre = model[:-1] if hasattr(model, "steps") else None
        return dict(est.measure(pre.transform(batch) if pre is not None else batch, repeats))
    predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    latency = median_latency_ms(lambda: predict(batch), repeats)
    return {
        "latency_ms": latency,
        "memory_mb": len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)) / MB,
        "n_params": float(sklearn_n_params(model)),
    }


def latency_batch(X: Any, size: int, seed: int = 0) -> Any:
    """A batch of ``size`` rows drawn from ``X`` (with replacement when X is smaller)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=size, replace=len(X) < size)
    return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]
