"""Neural architecture search spaces in torch (CUDA when available, else CPU): tabular MLP, image CNN,
and hybrid conv / attention / skip networks on images or sequences (searched by sampling or by DARTS:
automl.nas.darts)."""

from automl.nas.base import TorchEstimator, device, seed_everything
from automl.nas.cnn import TorchCNN, build_cnn
from automl.nas.hybrid import OPS, OpSpec, TorchHybrid, build_hybrid
from automl.nas.mlp import TorchMLP, build_mlp

__all__ = [
    "OPS",
    "OpSpec",
    "TorchCNN",
    "TorchEstimator",
    "TorchHybrid",
    "TorchMLP",
    "build_cnn",
    "build_hybrid",
    "build_mlp",
    "device",
    "seed_everything",
]
