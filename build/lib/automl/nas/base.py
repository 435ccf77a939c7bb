"""What the torch estimators share: the training loop (one epoch per step), prediction, measurement.

Conventions (scikit-learn's): parameters only in ``__init__``; ``fit`` returns self;
fitted attributes end in ``_``. The fitted network is kept as numpy arrays
(``state_``), so an estimator pickles and serializes (skops) without torch objects.
CUDA is used when torch sees it, else the CPU (one thread: trial slots run side by side).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from automl.measure import torch_costs


def device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Deterministic training for a seed (CPU always; CUDA with cuDNN's deterministic kernels)."""
    import torch

    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


class TorchEstimator(BaseEstimator):
    """Base of the torch classifiers/regressors; subclasses build the network (``_net``)."""

    task: str
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    seed: int

    @abstractmethod
    def _net(self) -> Any:
        """A fresh network for the fitted shapes (``n_features_in_``, ``n_outputs_``)."""

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        """Rows of features as the network's input (a CNN reshapes them into images)."""
        return X

    def fit(self, X: Any, y: Any) -> TorchEstimator:
        for _ in self.iter_fit(X, y):
            pass
        return self

    def iter_fit(self, X: Any, y: Any) -> Iterator[int]:
        """Train one epoch per step of the iteration (cross-validation advances K fold models side by side)."""
        import torch

        seed_everything(self.seed)
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
        Xt = torch.as_tensor(self._inputs(X))
        for epoch in range(1, self.epochs + 1):
            net.train()
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                batch = order[start : start + self.batch_size]
                if len(batch) < 2 and len(X) > 1:
                    continue  # a one-row batch breaks batch normalization and says little
                idx = torch.as_tensor(batch)
                opt.zero_grad()
                loss = loss_fn(net(Xt[idx].to(dev)), target[idx].to(dev))
                loss.backward()
                opt.step()
            self.state_ = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
            self.epochs_trained_ = epoch
            yield epoch

    def network(self, on: Any = None) -> Any:
        """The fitted network in eval mode, on ``on`` (default: the device predictions run on)."""
        import torch

        net = self._net()
        net.load_state_dict({k: torch.as_tensor(v) for k, v in self.state_.items()})
        return net.to(on or device()).eval()

    def _predict_raw(self, X: Any) -> np.ndarray:
        import torch

        dev = device()
        net = self.network(dev)
        with torch.no_grad():
            out = net(torch.as_tensor(self._inputs(np.asarray(X, dtype=np.float32))).to(dev)).cpu()
        if self.task == "classification":
            return torch.softmax(out, dim=1).numpy()
        return out.numpy().ravel() * self.y_std_ + self.y_mean_

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._predict_raw(X)

    def predict(self, X: Any) -> np.ndarray:
        raw = self._predict_raw(X)
        return self.classes_[np.argmax(raw, axis=1)] if self.task == "classification" else raw

    def measure(self, X_batch: Any, repeats: int = 15) -> dict[str, float]:
        """Latency (median ms per batch), peak inference memory (MB) and parameter count, measured."""

        x = self._inputs(np.asarray(X_batch, dtype=np.float32))
        return torch_costs(self.network(), x, repeats)
