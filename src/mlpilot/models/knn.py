"""The k-nearest-neighbours family, on the scaled "linear" features (brute-force search).

Brute force keeps the fitted model to the training matrix itself (no tree structures to
trust when loading) and gives exact, order-independent neighbours. Its prediction cost grows
with the training rows, so its relative cost is high and large tables are sub-sampled to
``max_rows`` (seeded) before fitting.

Fitting only stores the rows; the work is in predicting the validation rows, which no library
callback can stop. So a fit given a deadline times the prediction of its first
:data:`PROBE_ROWS` validation rows and raises ``TimeoutError`` when the rest would not be
predicted by then: the trial stops at its deadline instead of overrunning it (on
employment_ma at 60 s, 208k rows, predicting 62k validation rows took 7 s of a trial given 3,
and left the final fit too little time to refit anything).

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 2)); y = (X[:, 0] > 0).astype(int)
    >>> adapter = KNNAdapter()
    >>> model = adapter.fit(X, y, task=Task.BINARY, n_classes=2,
    ...                     params=adapter.default_params(Task.BINARY, 120), seed=0, n_threads=1)
    >>> adapter.predict(model, X[:2], Task.BINARY).shape
    (2, 2)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from threadpoolctl import threadpool_limits

from mlpilot.core.config import Task
from mlpilot.models.base import ModelAdapter, Param, proba_columns, skops_dump, skops_load

DEFAULTS: dict[str, Any] = {"n_neighbors": 15, "weights": "distance", "max_rows": 20_000}
#: validation rows predicted (and timed) first, to tell whether the rest fit before the deadline
PROBE_ROWS = 512

SPACE: tuple[Param, ...] = (
    Param("n_neighbors", "int", 3, 100, log=True),
    Param("weights", "categorical", choices=("uniform", "distance")),
)

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._regression.KNeighborsRegressor",
)


class KNNAdapter(ModelAdapter):
    """``KNeighborsClassifier`` / ``KNeighborsRegressor`` (brute force), dumped with skops."""

    name: ClassVar[str] = "knn"
    preprocessing: ClassVar[str] = "linear"
    relative_cost: ClassVar[float] = 2.0
    file_suffix: ClassVar[str] = "skops"
    small_params: ClassVar[dict[str, Any]] = {"n_neighbors": 5}

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        return dict(DEFAULTS)

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> Any:
        limit = int(params.get("max_rows", DEFAULTS["max_rows"]))
        if len(X) > limit:
            keep = np.sort(np.random.default_rng(seed).choice(len(X), limit, replace=False))
            X, y = X[keep], y[keep]
        k = max(1, min(int(params.get("n_neighbors", DEFAULTS["n_neighbors"])), len(X)))
        cls = KNeighborsClassifier if task.is_classification else KNeighborsRegressor
        model = cls(n_neighbors=k, weights=str(params.get("weights", DEFAULTS["weights"])),
                    algorithm="brute", n_jobs=1)
        model.fit(X, y)
        if deadline is not None and X_valid is not None and len(X_valid) > 2 * PROBE_ROWS:
            started = time.monotonic()
            self.predict(model, X_valid[:PROBE_ROWS], task)
            needed = (time.monotonic() - started) * len(X_valid) / PROBE_ROWS
            if time.monotonic() + needed > deadline:
                left = max(0.0, deadline - time.monotonic())
                raise TimeoutError(
                    f"stopped at its deadline: predicting its {len(X_valid):,} validation "
                    f"rows would take about {needed:.1f} s, {left:.1f} s were left")
        return model

    def predict(self, model: Any, X: np.ndarray, task: Task) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="blas"):
            if not task.is_classification:
                return np.asarray(model.predict(X), dtype=np.float64)
            return proba_columns(model.predict_proba(X), np.asarray(model.classes_), None)

    def model_size_bytes(self, model: Any) -> int:
        """The stored training matrix and targets, without the slow dump."""
        return int(model._fit_X.nbytes + np.asarray(model._y).nbytes)

    def dump(self, model: Any) -> bytes:
        return skops_dump(model)

    def load(self, data: bytes) -> Any:
        return skops_load(data, TRUSTED_TYPES)
