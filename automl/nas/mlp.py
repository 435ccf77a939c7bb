"""A torch MLP for tabular data, as a scikit-learn style estimator.

The architecture (depth, width, activation, dropout, residual connections) is a
search space; training reports the validation score once per epoch so the
pruning rules apply with resource = epochs. CUDA is used when torch sees it,
else the CPU. The fitted network is kept as numpy arrays (``state_``), so the
estimator pickles and serializes (skops) without torch objects inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator


def device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_mlp(n_in: int, n_out: int, n_layers: int, width: int, activation: str, dropout: float, residual: bool) -> Any:
    import torch
    from torch import nn

    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]

    class Block(nn.Module):
        def __init__(self, d_in: int, d_out: int) -> None:
            super().__init__()
            self.lin, self.act, self.drop = nn.Linear(d_in, d_out), act(), nn.Dropout(dropout)
            self.skip = residual and d_in == d_out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.drop(self.act(self.lin(x)))
            return x + h if self.skip else h

    layers: list[nn.Module] = []
    d = n_in
    for _ in range(n_layers):
        layers.append(Block(d, width))
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


class TorchMLP(BaseEstimator):
    """MLP classifier/regressor. ``task`` is 'classification' or 'regression'.

    ``iter_fit(X, y)`` trains one epoch per step of the iteration (so cross-validation
    can advance K fold models side by side and report per epoch); ``fit`` runs all epochs.
    """

    def __init__(
        self,
        task: str = "classification",
        n_layers: int = 2,
        width: int = 64,
        activation: str = "relu",
        dropout: float = 0.1,
        residual: bool = False,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 64,
        epochs: int = 30,
        seed: int = 0,
    ) -> None:
        self.task = task
        self.n_layers = n_layers
        self.width = width
        self.activation = activation
        self.dropout = dropout
        self.residual = residual
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed

    def _net(self) -> Any:
        return build_mlp(
            self.n_features_in_,
            self.n_outputs_,
            self.n_layers,
            self.width,
            self.activation,
            self.dropout,
            self.residual,
        )

    def fit(self, X: Any, y: Any) -> TorchMLP:
        for _ in self.iter_fit(X, y):
            pass
        return self

    def iter_fit(self, X: Any, y: Any) -> Iterator[int]:
        import torch

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        if self.task == "classification":
            self.classes_, y_idx = np.unique(y, return_inverse=True)
            self.n_outputs_ = len(self.classes_)
            target = torch.as_tensor(y_idx, dtype=torch.long)
            loss_fn: Any = torch.nn.CrossEntropyLoss()
        else:
            self.n_outputs_ = 1
            self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
            target = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32).reshape(-1, 1)
            loss_fn = torch.nn.MSELoss()
        self.n_features_in_ = X.shape[1]
        dev = device()
        if dev.type == "cpu":
            torch.set_num_threads(1)  # one core per trial: trial slots run side by side
        net = self._net().to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt = torch.as_tensor(X)
        for epoch in range(1, self.epochs + 1):
            net.train()
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                idx = torch.as_tensor(order[start : start + self.batch_size])
                opt.zero_grad()
                loss = loss_fn(net(Xt[idx].to(dev)), target[idx].to(dev))
                loss.backward()
                opt.step()
            self.state_ = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
            self.epochs_trained_ = epoch
            yield epoch

    def _predict_raw(self, X: Any) -> np.ndarray:
        import torch

        net = self._net()
        net.load_state_dict({k: torch.as_tensor(v) for k, v in self.state_.items()})
        net.eval()
        with torch.no_grad():
            out = net(torch.as_tensor(np.asarray(X, dtype=np.float32)))
        if self.task == "classification":
            return torch.softmax(out, dim=1).numpy()
        return out.numpy().ravel() * self.y_std_ + self.y_mean_

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._predict_raw(X)

    def predict(self, X: Any) -> np.ndarray:
        raw = self._predict_raw(X)
        return self.classes_[np.argmax(raw, axis=1)] if self.task == "classification" else raw
