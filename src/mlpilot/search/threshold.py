"""The decision threshold of a binary model, chosen on the scored (validation) predictions.

For metrics of hard labels (accuracy, balanced accuracy, F1) the threshold that maximises the
metric is chosen among the distinct predicted probabilities; for probability metrics (ROC AUC,
log loss) the labels are a by-product, so the threshold maximises F1 when the positive class is
rare (under 30%: 0.5 would rarely predict it) and stays 0.5 otherwise.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 0, 1, 1]); p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.9])
    >>> choose_threshold(y, p, "f1")
    0.375
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score

LABEL_METRICS = {"accuracy", "balanced_accuracy", "f1"}
RARE_POSITIVE_SHARE = 0.3
MAX_CANDIDATES = 200


def _value(metric: str, y: np.ndarray, labels: np.ndarray) -> float:
    if metric == "accuracy":
        return float(np.mean(labels == y))
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(y, labels))
    return float(f1_score(y, labels, zero_division=0.0))


def choose_threshold(y: np.ndarray, positive_proba: np.ndarray, metric: str) -> float:
    """The threshold (midpoint between neighbouring distinct probabilities) to label with."""
    y = np.asarray(y).astype(int)
    if metric not in LABEL_METRICS:
        if y.mean() >= RARE_POSITIVE_SHARE:
            return 0.5
        metric = "f1"
    values = np.unique(np.asarray(positive_proba, dtype=np.float64))
    if len(values) < 2:
        return 0.5
    cuts = (values[:-1] + values[1:]) / 2.0
    if len(cuts) > MAX_CANDIDATES:
        cuts = np.unique(np.quantile(cuts, np.linspace(0, 1, MAX_CANDIDATES)))
    best_cut, best_value = 0.5, _value(metric, y, (positive_proba >= 0.5).astype(int))
    for cut in cuts:
        value = _value(metric, y, (positive_proba >= cut).astype(int))
        if value > best_value + 1e-12:
            best_cut, best_value = float(cut), value
    return round(best_cut, 6)
