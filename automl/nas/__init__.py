"""Neural models in torch (CUDA when available, else CPU)."""

from automl.nas.mlp import TorchMLP, build_mlp

__all__ = ["TorchMLP", "build_mlp"]
