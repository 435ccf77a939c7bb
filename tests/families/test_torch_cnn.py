"""The CNN search space for image data: builder shapes, skips, pooling, determinism, learning digits."""

import numpy as np
import torch

from automl.data import read_dataset
from automl.families.space import get_family
from automl.nas import TorchCNN, build_cnn


def test_builder_shapes_pooling_and_skips() -> None:
    net = build_cnn((8, 8), 10, channels=[8, 8, 16], kernels=[3, 5, 3], pool="max", residual=True)
    assert net(torch.zeros(4, 1, 8, 8)).shape == (4, 10)
    blocks = [m for m in net if hasattr(m, "skip")]
    assert [b.skip for b in blocks] == [False, True, False]  # 1->8 no, 8->8 yes, 8->16 no
    assert net[-1].in_features == 16 * 1 * 1  # 8x8 pooled three times
    flat = build_cnn((3, 4, 4), 2, channels=[4], kernels=[3], pool="none")
    assert flat(torch.zeros(2, 3, 4, 4)).shape == (2, 2) and flat[-1].in_features == 4 * 4 * 4


def test_family_turns_sampled_parameters_into_an_estimator() -> None:
    params = {"n_blocks": 2, "channels_0": 6, "kernel_0": 3, "channels_1": 12, "kernel_1": 5, "pool": "avg"}
    est = get_family("torch_cnn").estimator({**params, "image_shape": (8, 8)}, "classification", seed=3)
    assert isinstance(est, TorchCNN)
    assert est.channels == (6, 12) and est.kernels == (3, 5) and est.image_shape == (8, 8) and est.seed == 3


def test_same_seed_same_model_and_it_learns_digits() -> None:
    frame = read_dataset("sklearn:digits").sample(600, random_state=0)
    X = frame.drop(columns=["target"]).to_numpy(dtype=np.float32) / 16.0
    y = frame["target"].to_numpy()
    a = TorchCNN(channels=(8,), kernels=(3,), epochs=6, lr=1e-2, seed=5).fit(X[:450], y[:450])
    b = TorchCNN(channels=(8,), kernels=(3,), epochs=6, lr=1e-2, seed=5).fit(X[:450], y[:450])
    np.testing.assert_allclose(a.predict_proba(X[450:]), b.predict_proba(X[450:]), atol=1e-6)
    assert (a.predict(X[450:]) == y[450:]).mean() > 0.8
