"""The torch MLP family: trains on the CPU here (CUDA when torch sees it), reports per epoch."""

import pickle
from pathlib import Path

import numpy as np
import torch
from helpers import make_config
from optuna.trial import TrialState

from automl.data import read_dataset
from automl.nas import TorchMLP, build_mlp
from automl.nas.mlp import device
from automl.objective import fit_final
from automl.study import create_or_open, open_study
from automl.worker import run_slot


def test_device_follows_cuda_availability() -> None:
    assert device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_builder_shapes_and_residual_blocks() -> None:
    net = build_mlp(8, 3, widths=[16, 16, 16], activation="gelu", dropout=0.0, residual=True, norm="layer")
    assert net(torch.zeros(5, 8)).shape == (5, 3)
    assert sum(getattr(b, "skip", False) for b in net) == 2  # 8->16 cannot skip, 16->16 twice can
    uneven = build_mlp(8, 2, widths=[32, 8], residual=True, norm="batch")
    assert [b.lin.out_features for b in list(uneven)[:2]] == [32, 8]
    assert not any(getattr(b, "skip", False) for b in uneven)  # no block keeps its width


def test_mlp_learns_and_pickles_without_torch_objects() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = TorchMLP(epochs=15, widths=(32,), lr=1e-2, seed=1)
    epochs = list(model.iter_fit(X, y))
    assert epochs == list(range(1, 16))
    assert (model.predict(X) == y).mean() > 0.9
    assert all(isinstance(v, np.ndarray) for v in model.state_.values())
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X))


def test_torch_trials_report_per_epoch_and_retrain(automl_home: Path) -> None:
    cfg = make_config(
        model_space=["torch_mlp"],
        metric="accuracy",
        budget={"n_trials": 2, "trials_per_slot": 2, "cv_folds": 2, "max_epochs": 4},
    )
    create_or_open(cfg, "mlp")
    frame = read_dataset("sklearn:breast_cancer").sample(200, random_state=0)
    X, y = frame.drop(columns=["target"]), frame["target"]
    run_slot(cfg, "mlp", 0, X, y)
    trials = open_study(cfg, "mlp").trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert sorted(t.intermediate_values) == list(range(1, 5))[: len(t.intermediate_values)]
        assert t.user_attrs["train_steps"] == 2 * len(t.intermediate_values)
    best = open_study(cfg, "mlp").best_trial
    model = fit_final(cfg, best, X, y)
    assert model.named_steps["model"].epochs_trained_ == best.user_attrs["best_epochs"]
    assert model.predict_proba(X).shape == (200, 2)
