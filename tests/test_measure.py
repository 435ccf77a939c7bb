"""Measured costs grow with the model: latency, memory and parameter counts are monotone in size."""

import lightgbm as lgb
import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier

from automl.measure import activation_peak_bytes, lightgbm_costs, model_costs, torch_costs
from automl.nas import TorchCNN, TorchMLP, build_cnn, build_mlp

RNG = np.random.default_rng(0)


def _increasing(values: list[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:], strict=False))


def test_torch_mlp_costs_grow_with_width() -> None:
    batch = RNG.normal(size=(256, 32)).astype(np.float32)
    costs = [torch_costs(build_mlp(32, 10, [w, w]).eval(), batch, repeats=15) for w in (16, 256, 2048)]
    assert _increasing([c["n_params"] for c in costs])
    assert _increasing([c["memory_mb"] for c in costs])
    assert _increasing([c["latency_ms"] for c in costs])


def test_torch_cnn_costs_grow_with_channels() -> None:
    batch = RNG.normal(size=(256, 1, 8, 8)).astype(np.float32)
    costs = [
        torch_costs(build_cnn((8, 8), 10, [c, c], [3, 3], pool="none").eval(), batch, repeats=15) for c in (4, 32, 128)
    ]
    assert _increasing([c["n_params"] for c in costs])
    assert _increasing([c["memory_mb"] for c in costs])
    assert _increasing([c["latency_ms"] for c in costs])


def test_activation_peak_counts_real_tensors_and_residual_inputs() -> None:
    x = torch.zeros(100, 64)
    plain = build_mlp(64, 2, [64, 64], residual=False).eval()
    skip = build_mlp(64, 2, [64, 64], residual=True).eval()
    # widest leaf: Linear 64 -> 64 on 100 rows: input + output = 2 * 100 * 64 floats
    assert activation_peak_bytes(plain, x) == 2 * 100 * 64 * 4
    # a residual block keeps its input alive while its layers run
    assert activation_peak_bytes(skip, x) == 3 * 100 * 64 * 4


def test_lightgbm_costs_grow_with_rounds() -> None:
    X = RNG.normal(size=(500, 10))
    y = (X[:, 0] > 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_threads": 1}, lgb.Dataset(X, y), 400)
    costs = [lightgbm_costs(booster, X[:256], repeats=15, num_iteration=n) for n in (5, 50, 400)]
    assert _increasing([c["n_params"] for c in costs])
    assert _increasing([c["memory_mb"] for c in costs])
    assert _increasing([c["latency_ms"] for c in costs])


def test_sklearn_costs_grow_with_trees() -> None:
    X = RNG.normal(size=(300, 8))
    y = (X[:, 0] > 0).astype(int)
    costs = [
        model_costs(RandomForestClassifier(n_estimators=n, random_state=0, n_jobs=1).fit(X, y), X[:256], repeats=9)
        for n in (2, 20, 200)
    ]
    assert _increasing([c["n_params"] for c in costs])
    assert _increasing([c["memory_mb"] for c in costs])
    assert _increasing([c["latency_ms"] for c in costs])


def test_estimators_measure_on_their_device_and_pickle() -> None:
    X = RNG.normal(size=(120, 16)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    mlp = TorchMLP(widths=(8,), epochs=2).fit(X, y)
    cnn = TorchCNN(image_shape=(4, 4), channels=(4,), kernels=(3,), epochs=2).fit(X, y)
    for model in (mlp, cnn):
        costs = model.measure(X[:32], repeats=3)
        assert costs["latency_ms"] > 0 and costs["memory_mb"] > 0 and costs["n_params"] > 0
    assert cnn.predict(X).shape == (120,)
    with pytest.raises(ValueError, match="needs 16 pixel columns, got 15"):
        cnn.predict(X[:, :15])
