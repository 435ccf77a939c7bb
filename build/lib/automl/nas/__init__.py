"""Neural architecture search spaces in torch (CUDA when available, else CPU): tabular MLP, image CNN."""

from automl.nas.base import TorchEstimator, device, seed_everything
from automl.nas.cnn import TorchCNN, build_cnn
from automl.nas.mlp import TorchMLP, build_mlp

__all__ = ["TorchCNN", "TorchEstimator", "TorchMLP", "build_cnn", "build_mlp", "device", "seed_everything"]
