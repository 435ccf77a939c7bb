"""The ensemble candidates on disk: the out-of-fold predictions of a study's best trials.

One ``<run folder>/oof/<trial number>.npy`` per candidate (the run folder holds the training matrix
the workers read), written by the worker when the trial's cross-validation completes, only when the
trial ranks among the best ``ensemble.max_candidates`` completed trials; after each write the files of
completed trials that fell out of that rank are deleted, so the folder stays bounded. Never in the
study storage. Files are plain numeric ``.npy`` arrays, read with ``allow_pickle=False`` (what a trial
process wrote is never unpickled) and checked for shape and finiteness.

A worker that cannot write there (a Kubernetes pod: the shared state is mounted read-only) keeps no
predictions and says so once; the final model is then the best trial alone.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from optuna.trial import TrialState

log = logging.getLogger("automl.ensemble")


def oof_folder(train_path: str | Path) -> Path:
    """Where a run's candidates live: beside its training matrix."""
    return Path(train_path).parent / "oof"


class OofStore:
    """The out-of-fold predictions of a study's best trials (see the module docstring)."""

    def __init__(self, folder: Path, max_candidates: int, maximize: bool) -> None:
        self.folder, self.max_candidates, self.maximize = Path(folder), max_candidates, maximize

    @classmethod
    def for_worker(cls, config: Any, train_path: str | Path) -> OofStore | None:
        """The worker's store, or None when the study keeps none or the folder cannot be written."""
        if config.ensemble.size <= 1 or config.is_multi_objective:
            return None
        folder = oof_folder(train_path)
        try:
            folder.mkdir(exist_ok=True)
            writable = os.access(folder, os.W_OK)
        except OSError:
            writable = False
        if not writable:
            log.warning(
                "ensemble: %s cannot be written here (read-only state, e.g. a Kubernetes pod); this worker keeps "
                "no out-of-fold predictions, and without candidates the final model is the best trial alone",
                folder,
            )
            return None
        return cls(folder, config.ensemble.max_candidates, config.metric_direction == "maximize")

    def path(self, number: int) -> Path:
        return self.folder / f"{int(number)}.npy"

    def _ranked(self, study: Any) -> list[tuple[float, int]]:
        """Completed trials as (value, number), best first."""
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
        return sorted(((t.value, t.number) for t in done), key=self._key)

    def keep(self, study: Any, number: int, value: float, pred: np.ndarray) -> None:
        """Write trial ``number``'s predictions if it ranks among the best; never fails the trial."""
        try:
            ranked = [vn for vn in self._ranked(study) if vn[1] != number]
            top = {n for _, n in sorted([*ranked, (value, number)], key=self._key)[: self.max_candidates]}
            if number not in top or not np.isfinite(value):
                return
            tmp = self.folder / f".{int(number)}.{os.getpid()}.tmp"
            with tmp.open("wb") as fh:
                np.save(fh, np.asarray(pred, dtype=np.float64), allow_pickle=False)
            tmp.replace(self.path(number))
            for _, n in ranked:  # completed trials only: a running trial's fresh file is left alone
                if n not in top:
                    self.path(n).unlink(missing_ok=True)
        except OSError as err:
            log.warning("ensemble: could not keep trial %d's out-of-fold predictions: %s", number, err)

    def _key(self, vn: tuple[float, int]) -> tuple[float, int]:
        return (-vn[0] if self.maximize else vn[0], vn[1])

    def candidates(self, study: Any) -> list[int]:
        """The best completed trials (at most ``max_candidates``) whose predictions are on disk, best first."""
        top = self._ranked(study)[: self.max_candidates]
        return [n for _, n in top if self.path(n).is_file()]

    def load(self, number: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """Trial ``number``'s predictions, or None (with a warning) when they are not a finite array of ``shape``."""
        try:
            pred = np.load(self.path(number), allow_pickle=False)
        except (OSError, ValueError) as err:
            log.warning("ensemble: trial %d's out-of-fold predictions unreadable (%s); not a candidate", number, err)
            return None
        if pred.shape != shape or pred.dtype.kind != "f" or not np.isfinite(pred).all():
            log.warning(
                "ensemble: trial %d's out-of-fold predictions are %s %s, not finite floats of shape %s; "
                "not a candidate",
                number,
                pred.dtype,
                pred.shape,
                shape,
            )
            return None
        return pred
