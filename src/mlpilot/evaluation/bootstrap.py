"""Bootstrap confidence intervals for test metrics: resample the test rows, re-score, take
percentiles.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=300); pred = y + rng.normal(scale=0.5, size=300)
    >>> ci = bootstrap_intervals(Task.REGRESSION, y, pred, n_resamples=200, seed=0)
    >>> low, high = ci["rmse"]
    >>> bool(0.4 < low < 0.5 < high < 0.6)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlpilot.core.config import Task
from mlpilot.evaluation.metrics import METRICS, metric_names

DEFAULT_RESAMPLES = 300


def bootstrap_intervals(task: Task, y_true: Any, prediction: Any, *,
                        classes: Sequence[Any] | None = None,
                        n_resamples: int = DEFAULT_RESAMPLES, level: float = 0.95,
                        seed: int = 0) -> dict[str, tuple[float, float] | None]:
    """Percentile intervals of every metric of ``task`` over bootstrap resamples of the rows.

    Args:
        y_true: integer codes 0..k-1 (classification) or values (regression).
        prediction: probabilities (n, k) or values (n,), as :func:`evaluate` takes them.
        classes: unused for codes; kept for symmetry with ``evaluate``.
        n_resamples: how many resamples (seeded, so the same inputs give the same interval).
        level: the coverage, 0.95 for a 95% interval.

    Returns:
        name -> (low, high); None where the metric is undefined on too many resamples.
    """
    del classes
    task = Task(task)
    y = np.asarray(y_true)
    pred = np.asarray(prediction)
    n = len(y)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n_resamples, n)) if n else np.zeros((0, 0), int)
    tail = (1.0 - level) / 2.0
    out: dict[str, tuple[float, float] | None] = {}
    for name in metric_names(task):
        metric = METRICS[name]
        values = np.array([metric(y[idx], pred[idx]) for idx in indices], dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size < max(10, n_resamples // 2):
            out[name] = None
            continue
        low, high = np.quantile(finite, [tail, 1.0 - tail])
        out[name] = (float(low), float(high))
    return out
