"""DARTS (automl.nas.darts): the mixed operation, the cost model, the derivation under constraints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automl.config import parse_config
from automl.data import read_dataset
from automl.nas.darts import MixedOp, Supernet, WidthSupernet, candidates, derive, measure_costs, search
from automl.nas.hybrid import OpSpec, TorchHybrid

SPECS = candidates([1, 2], [4, 8])


@pytest.mark.parametrize("spatial", [(8, 8), (8,)], ids=["image", "sequence"])
def test_mixed_op_with_one_hot_weights_is_that_op(spatial: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    mixed = MixedOp(SPECS, 8, len(spatial)).eval()
    x = torch.randn(5, 8, *spatial)
    outs = []
    for j, op in enumerate(mixed.ops):
        w = torch.zeros(len(SPECS))
        w[j] = 1.0
        with torch.no_grad():
            got, want = mixed(x, w), op(x)
        assert torch.equal(got, want), SPECS[j].label
        outs.append(got)
    assert not torch.equal(outs[0], outs[1])  # the ops differ, so the check above could fail
    with torch.no_grad():  # and a soft mix is the weighted sum
        w = torch.softmax(torch.randn(len(SPECS)), 0)
        torch.testing.assert_close(mixed(x, w), sum(wj * o for wj, o in zip(w, outs, strict=True)))


def test_attention_cost_grows_with_heads_and_key_width() -> None:
    grid = [(1, 4), (1, 16), (4, 4), (4, 16)]
    table = measure_costs([OpSpec("attn", h, k) for h, k in grid], 1, (8, 8), 10, 16, batch=64, repeats=3)
    cost = {hk: (p, a) for hk, p, a in zip(grid, table.param_mb, table.act_mb, strict=True)}
    for h in (1, 4):  # key width: parameters and activations grow
        assert cost[(h, 16)][0] > cost[(h, 4)][0] and cost[(h, 16)][1] > cost[(h, 4)][1]
    for k in (4, 16):  # heads: parameters and activations (the score matrix per head) grow
        assert cost[(4, k)][0] > cost[(1, k)][0] and cost[(4, k)][1] > cost[(1, k)][1]
    # and the whole network, measured as trials measure it (automl.measure)
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 64)).astype(np.float32), np.arange(64) % 3
    mem = {}
    for h, k in grid:
        net = TorchHybrid(image_shape=(8, 8), ops=("attn", "skip", "skip"), heads=(h, 1, 1), key_dims=(k, 8, 8))
        net.set_params(epochs=1).fit(X, y)
        m = net.measure(X, repeats=3)
        mem[(h, k)] = (m["memory_mb"], m["n_params"])
    assert mem[(1, 4)] < mem[(1, 16)] < mem[(4, 16)] and mem[(1, 4)] < mem[(4, 4)] < mem[(4, 16)]


def test_derivation_meets_a_memory_limit_the_argmax_breaks() -> None:
    table = measure_costs(SPECS, 1, (8, 8), 10, 16, batch=256, repeats=3)
    alpha = np.zeros((3, len(SPECS)))
    alpha[:, SPECS.index(OpSpec("attn", 2, 8))] = 1.0  # every position prefers the costliest attention
    alpha[:, 0] = 0.5
    free = derive(alpha, table, {})
    limit = 0.5 * (table.of_choice(free)["memory_mb"] + table.of_choice([0, 0, 0])["memory_mb"])
    assert table.of_choice(free)["memory_mb"] > limit
    bound = derive(alpha, table, {"memory_mb": limit})
    assert table.of_choice(bound)["memory_mb"] <= limit
    assert bound != free and 0 in bound  # it gave up attention where it had to, for the next-best conv


def _config(**nas: object) -> object:
    return parse_config(
        {
            "name": "darts_unit",
            "dataset": {"source": "sklearn:digits", "target": "target", "image_shape": [8, 8]},
            "task": "classification",
            "metric": "accuracy",
            "model_space": ["torch_hybrid"],
            "features": {"enabled": False, "select": False},
            "warm_start": {"enabled": False},
            "multi_objective": {
                "objectives": ["accuracy", "memory_mb"],
                "constraints": ["memory_mb <= 2.5"],
                "latency_batch_size": 256,
            },
            "nas": {"solver": "darts", "epochs": 3, "warmup_epochs": 1, "width": 16, **nas},
        },
        source="test",
    )


def test_search_with_the_penalty_derives_a_network_within_the_limit() -> None:
    frame = read_dataset("sklearn:digits").sample(400, random_state=0)
    X, y = frame.drop(columns=["target"]).to_numpy() / 16.0, frame["target"].to_numpy()
    config = _config(heads=[2, 4], key_dims=[16])
    result = search(config, X, y)  # type: ignore[arg-type]
    assert len(result.curve) == 3 and result.curve[-1]["penalty"] >= 0
    assert result.train_samples == (3 + len(result.width_curve)) * 400
    p = result.params
    assert p["width"] == result.width and result.width in (8, 16, 32)  # the width stage chose it
    net = TorchHybrid(
        image_shape=(8, 8),
        width=p["width"],
        ops=tuple(p[f"op_{i}"] for i in range(3)),
        heads=tuple(p.get(f"heads_{i}", 1) for i in range(3)),
        key_dims=tuple(p.get(f"key_dim_{i}", 8) for i in range(3)),
        epochs=1,
    ).fit(X, y)
    measured = net.measure(X[np.arange(256) % len(X)], repeats=3)["memory_mb"]
    assert measured <= 2.5
    assert measured == pytest.approx(result.estimated["memory_mb"], rel=1e-6)  # the cost model is the measurement


@pytest.mark.parametrize("spatial", [(8, 8), (8,)], ids=["image", "sequence"])
def test_width_mask_with_one_hot_weights_is_the_narrower_network(spatial: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    specs = [OpSpec("conv5"), OpSpec("attn", 2, 4), OpSpec("skip")]
    wide = WidthSupernet(3, spatial, 10, specs, [8, 16, 32])
    wide.train()  # batch norm statistics of the batch: the narrow network must see the same channels
    for _ in range(2):  # and non-trivial running statistics, then evaluation mode
        wide(torch.randn(6, 3, *spatial), torch.tensor([0.2, 0.3, 0.5]))
    wide.eval()
    x = torch.randn(5, 3, *spatial)
    outs = {}
    for i, w in enumerate([8, 16, 32]):
        onehot = torch.zeros(3)
        onehot[i] = 1.0
        narrow = wide.narrow(w).eval()
        assert narrow.head[2].in_features == w * math.prod(spatial)
        with torch.no_grad():
            outs[w] = wide(x, onehot)
            torch.testing.assert_close(outs[w], narrow(x), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(outs[8], outs[16]) and not torch.allclose(outs[16], outs[32])
    with torch.no_grad():  # a soft mix is none of them: the relaxation interpolates
        mixed = wide(x, torch.tensor([0.2, 0.3, 0.5]))
    assert all(not torch.allclose(mixed, o) for o in outs.values())


def test_dropped_candidates_leave_the_mix_but_not_the_strongest_or_skip() -> None:
    torch.manual_seed(0)
    net = Supernet(1, (8, 8), 10, 8, SPECS, positions=2).eval()
    with torch.no_grad():
        net.alpha.zero_()
        net.alpha[0, 1] = 2.0  # position 0: conv 5 strong, the rest (skip included) weak
        net.alpha[1, :] = torch.linspace(0, 0.1, len(SPECS))  # position 1: near uniform
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        before = net(x)
    assert net.prune(0.8) == len(SPECS) - 2  # position 0 keeps conv 5 and skip; position 1 keeps all
    assert net.active[0] == [j in (1, len(SPECS) - 1) for j in range(len(SPECS))] and all(net.active[1])
    mix = net.mix()
    assert torch.all(mix[0, [j for j, on in enumerate(net.active[0]) if not on]] == 0)
    torch.testing.assert_close(mix.sum(dim=1), torch.ones(2))
    with torch.no_grad():  # the pruned network is the full one with the dropped weights at zero
        after = net(x)
        h = net.net.features(x)
        for block, w in zip(net.net.blocks, mix, strict=True):
            h = block(h, w)  # every candidate computed, the dropped ones times 0
        torch.testing.assert_close(after, net.net.head(h))
    assert not torch.allclose(before, after)
    ranked = net.ranked_alpha()  # the derivation never picks a dropped candidate
    assert ranked[0].argmax() == 1 and max(ranked[0][j] for j in range(len(SPECS)) if not net.active[0][j]) < 0
