"""Fitting one fold, in this process or on a pool of single-threaded worker processes.

:func:`fit_fold` is how :meth:`mlpilot.search.validation.Problem.fit` fits each fold (with
every approved thread). :class:`FoldPool` fits the folds of a cross-validated trial side by
side instead, one thread each; ``bench/parallel.py`` runs the search's portfolio both ways.
Measured on the shared 2-core machine (bench/README.md): the pool finished the portfolio
sooner on the smallest table (penguins, where multi-threaded CatBoost stalls) but later on
breast_cancer, wage and credit_data, and it delays the first model by the ~2 s its workers
need to start. So the search fits one trial at a time with every thread; the pool stays as the
measured alternative. The folds are independent (each has its own seed-fixed model and rows),
so with the pool the result does not depend on which worker fits which fold.

Workers are spawned (not forked: a fork after OpenMP has started can deadlock) and warmed up
in the background. They run only mlpilot's own functions, so they are started without
re-importing the caller's ``__main__`` module.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> X = np.arange(40, dtype=float).reshape(20, 2); y = (X[:, 0] > 19).astype(int)
    >>> job = FoldJob("linear", X, y, X, y, (), Task.BINARY, 2, {"C": 1.0}, 0, None, True)
    >>> done = fit_fold(job)
    >>> done.prediction.shape, done.cut
    ((20, 2), None)
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlpilot.core.config import Task
from mlpilot.models import target as target_transform
from mlpilot.models.registry import get_adapter


@dataclass(frozen=True)
class FoldJob:
    """One fold's fit: the family, its matrices, the task, parameters, seed and deadline."""

    family: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    categorical_indices: Sequence[int]
    task: Task
    n_classes: int | None
    params: dict[str, Any]
    seed: int
    deadline: float | None
    start_late: bool  # fit even when the deadline has passed before the fold starts


@dataclass(frozen=True)
class FoldDone:
    """A fitted fold: the model, the rounds its deadline cut (None: not cut), its
    predictions on the fold's held-out rows, and its costs. ``late``: not started, because
    the deadline had passed."""

    model: Any
    cut: int | None
    prediction: np.ndarray
    fit_seconds: float
    predict_seconds: float
    size: int
    late: bool = False
    #: the range, in the model's units, of the target values it was fitted on (target.py)
    target_range: tuple[float, float] | None = None


def fit_fold(job: FoldJob, n_threads: int = 1) -> FoldDone:
    """Fit one fold (in a worker, single-threaded) and predict its held-out rows (in the
    target's units, under the target transform the parameters name)."""
    if not job.start_late and job.deadline is not None and time.monotonic() >= job.deadline:
        return FoldDone(None, None, np.zeros(0), 0.0, 0.0, 0, late=True)
    adapter = get_adapter(job.family)
    target, params = target_transform.split_params(job.params)
    started = time.monotonic()
    model = adapter.fit(job.X_train, target_transform.forward(target, job.y_train),
                        task=job.task, n_classes=job.n_classes, params=params, seed=job.seed,
                        n_threads=n_threads, categorical_indices=job.categorical_indices,
                        X_valid=job.X_valid, y_valid=target_transform.forward(target, job.y_valid),
                        deadline=job.deadline)
    fit_seconds = time.monotonic() - started
    cut = adapter.take_cut(model)
    started = time.monotonic()
    fitted = target_transform.fitted_range(target, job.y_train)
    prediction = target_transform.inverse(target, adapter.predict(model, job.X_valid, job.task),
                                          fitted)
    predict_seconds = time.monotonic() - started
    return FoldDone(model, cut, prediction, fit_seconds, predict_seconds,
                    adapter.model_size_bytes(model), target_range=fitted)


def _warm() -> int:
    """Import every family's library in a fresh worker, so the first fold does not wait."""
    from mlpilot.models.registry import FAMILIES

    for name in FAMILIES:
        get_adapter(name)
    import catboost  # noqa: F401
    import lightgbm  # noqa: F401
    import xgboost  # noqa: F401

    return 0


@contextmanager
def _without_main() -> Iterator[None]:
    """Processes started inside do not import the caller's ``__main__`` (multiprocessing
    re-runs a script's top level in spawned children otherwise)."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__")
             if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class FoldPool:
    """A pool of ``workers`` spawned processes fitting folds; close it when the search ends."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        with _without_main():  # the workers start here, one per warm-up task
            self._warming = [self._pool.submit(_warm) for _ in range(workers)]

    def map(self, jobs: Sequence[FoldJob]) -> list[FoldDone]:
        """Fit ``jobs`` side by side; results in the order of ``jobs``."""
        futures: list[Future[FoldDone]] = [self._pool.submit(fit_fold, job) for job in jobs]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
