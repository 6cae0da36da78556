"""The linear family: logistic regression (lbfgs) for classes, ridge for values.

Runs on "linear" features (imputed, standardised, one-hot). The lbfgs solver is run in
warm-started chunks of iterations so a fit stops at its deadline. BLAS runs single-threaded:
on tabular widths it gains little from threads, and idle OpenBLAS threads spinning next to
LightGBM's OpenMP pool made fits on small machines up to 30 times slower. Single-threaded BLAS
also keeps the floating-point summation order, hence the predictions, fixed.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = (X[:, 0] > 0).astype(int)
    >>> adapter = LinearAdapter()
    >>> model = adapter.fit(X, y, task=Task.BINARY, n_classes=2,
    ...                     params=adapter.default_params(Task.BINARY, 100), seed=0, n_threads=1)
    >>> again = adapter.load(adapter.dump(model))
    >>> same = adapter.predict(again, X, Task.BINARY) == adapter.predict(model, X, Task.BINARY)
    >>> bool(same.all())
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import threadpool_limits

from mlpilot.core.config import Task
from mlpilot.models.base import ModelAdapter, Param, past, proba_columns, skops_dump, skops_load

ITERATION_CHUNK = 25

DEFAULTS: dict[str, Any] = {"C": 1.0, "alpha": 1.0, "max_iter": 300}

SPACE_CLASSIFICATION: tuple[Param, ...] = (Param("C", "float", 1e-3, 100.0, log=True),)
SPACE_REGRESSION: tuple[Param, ...] = (Param("alpha", "float", 1e-3, 1000.0, log=True),)

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
)


class LinearAdapter(ModelAdapter):
    """``LogisticRegression`` (lbfgs) or ``Ridge``; dumped with skops."""

    name: ClassVar[str] = "linear"
    preprocessing: ClassVar[str] = "linear"
    relative_cost: ClassVar[float] = 0.3
    file_suffix: ClassVar[str] = "skops"
    small_params: ClassVar[dict[str, Any]] = {"max_iter": 100}
    rounds_param: ClassVar[str | None] = "max_iter"
    supports_class_weight: ClassVar[bool] = True

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        return dict(DEFAULTS)

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE_CLASSIFICATION if task.is_classification else SPACE_REGRESSION

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y, task=task, params=params, seed=seed, deadline=deadline)

    def _fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, params: dict[str, Any],
             seed: int, deadline: float | None) -> Any:
        if not task.is_classification:
            return Ridge(alpha=float(params.get("alpha", DEFAULTS["alpha"]))).fit(X, y)
        total = int(params.get("max_iter", DEFAULTS["max_iter"]))
        balanced = params.get("class_weight", "none") == "balanced"
        model = LogisticRegression(C=float(params.get("C", DEFAULTS["C"])), solver="lbfgs",
                                   class_weight="balanced" if balanced else None,
                                   max_iter=min(ITERATION_CHUNK, total), warm_start=True,
                                   random_state=seed)
        done = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            while True:
                model.fit(X, y)
                done += model.max_iter
                converged = int(np.max(model.n_iter_)) < model.max_iter
                if converged or done >= total:
                    return model
                if past(deadline):
                    model._mlpilot_cut_at = done  # chunks of the same size: same iterates
                    return model
                model.max_iter = min(ITERATION_CHUNK, total - done)

    def predict(self, model: Any, X: np.ndarray, task: Task) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="blas"):
            if not task.is_classification:
                return np.asarray(model.predict(X), dtype=np.float64)
            return proba_columns(model.predict_proba(X), np.asarray(model.classes_), None)

    def dump(self, model: Any) -> bytes:
        return skops_dump(model)

    def load(self, data: bytes) -> Any:
        return skops_load(data, TRUSTED_TYPES)
