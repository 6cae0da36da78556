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
from mlpilot.evaluation.metrics import METRICS, Metric, metric_names

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


def paired_worse_share(metric: Metric, y_true: Any, candidate: Any, incumbent: Any, *,
                       n_resamples: int = 200, seed: int = 0,
                       max_rows: int | None = None) -> float:
    """The share of bootstrap resamples of the rows on which ``candidate``'s predictions score
    strictly worse than ``incumbent``'s by ``metric`` (both scored on the same resample:
    paired). Near 1: the candidate is worse beyond the noise of these rows; near 0.5: no
    telling them apart. Resamples where either score is undefined are left out (NaN when all
    are). ``max_rows`` caps the rows drawn per resample (an m-out-of-n bootstrap: on more
    rows than that, the noise of ``max_rows`` rows, so a difference must be larger to show).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=400)
        >>> close, far = y + rng.normal(scale=0.5, size=400), y + rng.normal(size=400)
        >>> paired_worse_share(METRICS["rmse"], y, far, close), paired_worse_share(
        ...     METRICS["rmse"], y, close, far)
        (1.0, 0.0)
    """
    y = np.asarray(y_true)
    a, b = np.asarray(candidate), np.asarray(incumbent)
    rng = np.random.default_rng(seed)
    sign = 1.0 if metric.greater_is_better else -1.0
    worse = defined = 0
    for _ in range(n_resamples if len(y) else 0):
        idx = rng.integers(0, len(y), size=min(len(y), max_rows or len(y)))
        first, second = metric(y[idx], a[idx]), metric(y[idx], b[idx])
        if np.isfinite(first) and np.isfinite(second):
            defined += 1
            worse += int(sign * first < sign * second)
    return worse / defined if defined else float("nan")
