"""Temperature scaling of class probabilities (Guo et al., 2017): ``softmax(log p / T)``.

A model chosen for its log loss can still be over- or under-confident as a whole: boosted
trees stopped early are often too timid, a bag of fold models (which averages) more so. One
scalar ``T`` fitted on the scored predictions (the validation rows, or every row's
out-of-fold prediction) by minimising their log loss fixes that without changing any
ranking: ``T < 1`` sharpens, ``T > 1`` softens, ``T = 1`` is the identity. AutoGluon does the
same for log-loss problems. The search fits it only when the metric is log loss
(:mod:`mlpilot.search.study`); the Predictor applies it to every probability it returns.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    >>> apply_temperature(proba, 1.0).round(6).tolist() == proba.tolist()
    True
    >>> bool(apply_temperature(proba, 0.5)[0, 0] > 0.6)  # sharper
    True
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

#: the temperatures searched (a wider range only fits noise)
LOWEST, HIGHEST = 0.05, 20.0
#: the least relative log-loss gain over T = 1 worth a temperature
MIN_GAIN = 1e-4
_FLOOR = 1e-15


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / temperature)`` row by row (probabilities clipped at 1e-15)."""
    logits = np.log(np.clip(np.asarray(proba, dtype=np.float64), _FLOOR, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> float | None:
    """The temperature that minimises the log loss of ``proba`` (n, k) for the integer
    classes ``y``, or None when it gains less than :data:`MIN_GAIN` (relative) over none."""
    y = np.asarray(y).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if len(y) == 0 or proba.ndim != 2 or proba.shape[1] < 2:
        return None
    log_p = np.log(np.clip(proba, _FLOOR, 1.0))
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        logits = log_p / math.exp(log_t)
        logits -= logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[rows, y]))

    found = minimize_scalar(loss, bounds=(math.log(LOWEST), math.log(HIGHEST)),
                            method="bounded", options={"xatol": 1e-4})
    base = loss(0.0)
    if not math.isfinite(base) or not found.success or found.fun > base * (1 - MIN_GAIN):
        return None
    return float(math.exp(found.x))
