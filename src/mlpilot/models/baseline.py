"""The baseline family: class priors (classification) or the training mean (regression).

It ignores the features and is always on the leaderboard, so every model is judged against it.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> adapter = BaselineAdapter()
    >>> model = adapter.fit(np.zeros((4, 0)), np.array([0, 1, 1, 1]), task=Task.BINARY,
    ...                     n_classes=2, params={}, seed=0, n_threads=1)
    >>> adapter.predict(adapter.load(adapter.dump(model)), np.zeros((2, 0)), Task.BINARY).tolist()
    [[0.25, 0.75], [0.25, 0.75]]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from mlpilot.core.config import Task
from mlpilot.core.errors import IntegrityError
from mlpilot.models.base import ModelAdapter


class BaselineAdapter(ModelAdapter):
    """Predicts the training class frequencies, or the training mean."""

    name: ClassVar[str] = "baseline"
    preprocessing: ClassVar[str] = "none"
    relative_cost: ClassVar[float] = 0.01
    file_suffix: ClassVar[str] = "json"

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> dict[str, Any]:
        y = np.asarray(y)
        if task.is_classification:
            width = max(int(n_classes or 0), int(y.max()) + 1, 2)
            counts = np.bincount(y.astype(int), minlength=width).astype(np.float64)
            return {"kind": "priors", "values": (counts / counts.sum()).tolist()}
        return {"kind": "mean", "values": [float(np.mean(y.astype(np.float64)))]}

    def predict(self, model: dict[str, Any], X: np.ndarray, task: Task) -> np.ndarray:
        values = np.asarray(model["values"], dtype=np.float64)
        if model["kind"] == "priors":
            return np.tile(values, (X.shape[0], 1))
        return np.full(X.shape[0], values[0])

    def dump(self, model: dict[str, Any]) -> bytes:
        return json.dumps(model, sort_keys=True).encode("utf-8")

    def load(self, data: bytes) -> dict[str, Any]:
        try:
            model = json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise IntegrityError("the baseline model file is not valid JSON", found=str(exc),
                                 fix="re-create the artifact; it was modified or damaged") from exc
        return model
