"""The hybrid conv / attention / skip space: images and sequences, the family's parameters, the config."""

from typing import Any

import numpy as np
import optuna
import pytest
import torch

from automl.config import ConfigError, parse_config
from automl.data import read_dataset
from automl.families.space import get_family
from automl.nas import OpSpec, TorchHybrid, build_hybrid
from automl.nas.hybrid import reshape_rows


def test_builder_images_and_sequences() -> None:
    specs = [OpSpec("conv3"), OpSpec("attn", 2, 4), OpSpec("skip")]
    image = build_hybrid((8, 8), None, 10, 8, specs)
    assert image(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    seq = build_hybrid(None, (8, 8), 10, 8, [OpSpec("conv5"), OpSpec("attn", 1, 8), OpSpec("skip")])
    assert seq(torch.zeros(3, 8, 8)).shape == (3, 10)
    # a row of 8 steps x 8 features: step t is columns 8t..8t+7, one feature per channel
    rows = np.arange(2 * 64, dtype=np.float32).reshape(2, 64)
    as_seq = reshape_rows(rows, None, (8, 8))
    assert as_seq.shape == (2, 8, 8) and as_seq[0, 3, 2] == rows[0, 2 * 8 + 3]
    with pytest.raises(ValueError, match="needs 64 columns"):
        reshape_rows(rows[:, :10], (8, 8), None)


def test_family_space_round_trips_through_a_trial() -> None:
    family = get_family("torch_hybrid")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        params = family.suggest(trial, "")
        est = family.estimator({**params, "sequence_shape": (8, 8)}, "classification", seed=2)
        assert isinstance(est, TorchHybrid) and len(est.ops) == 3
        for i, op in enumerate(est.ops):
            seen.add(op)
            if op == "attn":
                assert (est.heads[i], est.key_dims[i]) == (params[f"heads_{i}"], params[f"key_dim_{i}"])
        study.tell(trial, 0.0)
    assert {"conv3", "conv5", "attn", "skip"} <= seen


def test_it_learns_digits_as_sequences() -> None:
    frame = read_dataset("sklearn:digits").sample(600, random_state=0)
    X = frame.drop(columns=["target"]).to_numpy(dtype=np.float32) / 16.0
    y = frame["target"].to_numpy()
    net = TorchHybrid(sequence_shape=(8, 8), width=8, ops=("conv3", "attn", "skip"), epochs=6, lr=1e-2, seed=5)
    net.fit(X[:450], y[:450])
    assert (net.predict(X[450:]) == y[450:]).mean() > 0.8


def _study(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "h",
        "dataset": {"source": "sklearn:digits", "target": "target", "sequence_shape": [8, 8]},
        "task": "classification",
        "metric": "accuracy",
        "model_space": ["torch_hybrid"],
        "features": {"enabled": False, "select": False},
        "warm_start": {"enabled": False},
    }
    base.update(over)
    return base


def test_config_checks() -> None:
    config = parse_config(_study(), source="t")
    assert get_family("torch_hybrid").fixed_params(config) == {"sequence_shape": (8, 8)}
    bad: list[tuple[dict[str, Any], str]] = [
        (
            {
                "dataset": {
                    "source": "sklearn:digits",
                    "target": "target",
                    "image_shape": [8, 8],
                    "sequence_shape": [8, 8],
                }
            },
            "not both",
        ),
        ({"dataset": {"source": "sklearn:digits", "target": "target"}}, "needs dataset.image_shape or"),
        ({"model_space": ["torch_mlp"], "nas": {"solver": "darts"}}, "set model_space \\[torch_hybrid\\]"),
        ({"nas": {"solver": "darts", "epochs": 2, "warmup_epochs": 2}}, "warmup_epochs must be fewer"),
        ({"nas": {"solver": "darts"}, "warm_start": {"enabled": True}}, "set warm_start.enabled false"),
        ({"nas": {"heads": [3]}}, "nas.heads"),
    ]
    for over, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config(_study(**over), source="t")
