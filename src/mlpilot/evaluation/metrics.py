"""Metrics by task, with their direction, as small frozen objects that satisfy ``Scorer``.

Classification metrics take integer-encoded labels ``0..k-1`` and the probability matrix
``(n, k)``; regression metrics take true and predicted values.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> auc = get_metric("roc_auc", Task.BINARY)
    >>> auc(np.array([0, 1, 1, 0]), np.array([[.9, .1], [.2, .8], [.4, .6], [.3, .7]]))
    0.75
    >>> default_metric(Task.REGRESSION).name, default_metric(Task.REGRESSION).greater_is_better
    ('rmse', False)
    >>> is_better(0.81, 0.80, auc), is_better(0.80, 0.80, auc), is_better(0.5, None, auc)
    (True, False, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, DataError

_CLS = frozenset({Task.BINARY, Task.MULTICLASS})
_BIN = frozenset({Task.BINARY})
_MULTI = frozenset({Task.MULTICLASS})
_REG = frozenset({Task.REGRESSION})


@dataclass(frozen=True)
class Metric:
    """A named metric, its direction, the tasks it applies to and its function.

    Example:
        >>> import numpy as np
        >>> m = METRICS["mae"]
        >>> m(np.array([1.0, 2.0]), np.array([1.5, 2.0])), m.greater_is_better
        (0.25, False)
    """

    name: str
    greater_is_better: bool
    needs_proba: bool
    tasks: frozenset[Task]
    fn: Callable[[np.ndarray, np.ndarray], float]

    def __call__(self, y_true: Any, prediction: Any) -> float:
        """The metric's value; NaN where it is undefined (e.g. AUC with a single class)."""
        if Task.REGRESSION in self.tasks:
            y = np.asarray(y_true, dtype="float64").ravel()
            pred = np.asarray(prediction, dtype="float64").ravel()
        else:
            y = np.asarray(y_true).astype(np.int64).ravel()
            pred = _proba_matrix(prediction)
        if y.shape[0] != pred.shape[0]:
            raise DataError(
                f"cannot compute {self.name}: {y.shape[0]} labels but {pred.shape[0]} predictions",
                expected="one prediction per row", found=f"shapes {y.shape} and {pred.shape}",
                fix="predict on the same rows as the labels",
            )
        if y.shape[0] == 0:
            return math.nan
        return float(self.fn(y, pred))


def _proba_matrix(prediction: Any) -> np.ndarray:
    """(n, k) probabilities; a 1-D vector is read as the positive-class probability."""
    p = np.asarray(prediction, dtype="float64")
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    return p


def _normalized(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.0, None)
    total = p.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return p / total


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    k = p.shape[1]
    scores = []
    for cls in range(1 if k == 2 else 0, k):
        positive = y == cls
        if positive.all() or not positive.any():
            continue
        scores.append(skm.roc_auc_score(positive, p[:, cls]))
        if k == 2:
            break
    return float(np.mean(scores)) if scores else math.nan


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return skm.log_loss(y, _normalized(p), labels=list(range(p.shape[1])))


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return skm.accuracy_score(y, p.argmax(axis=1))


def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    # Average recall over the classes present in y_true (sklearn's definition).
    pred = p.argmax(axis=1)
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return float(np.mean(recalls))


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    return skm.f1_score(y, (p[:, 1] >= 0.5).astype(np.int64), zero_division=0.0)


def _f1_macro(y: np.ndarray, p: np.ndarray) -> float:
    return skm.f1_score(y, p.argmax(axis=1), labels=list(range(p.shape[1])), average="macro",
                        zero_division=0.0)


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    if y.shape[0] < 2:
        return math.nan
    return skm.r2_score(y, p)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("roc_auc", True, True, _CLS, _roc_auc),
    Metric("log_loss", False, True, _CLS, _log_loss),
    Metric("accuracy", True, False, _CLS, _accuracy),
    Metric("balanced_accuracy", True, False, _CLS, _balanced_accuracy),
    Metric("f1", True, False, _BIN, _f1),
    Metric("f1_macro", True, False, _MULTI, _f1_macro),
    Metric("rmse", False, False, _REG, _rmse),
    Metric("mae", False, False, _REG, _mae),
    Metric("r2", True, False, _REG, _r2),
)}
_ALIASES = {"auc": "roc_auc", "logloss": "log_loss", "neg_log_loss": "log_loss",
            "acc": "accuracy", "mse_root": "rmse"}
_DEFAULTS = {Task.BINARY: "roc_auc", Task.MULTICLASS: "log_loss", Task.REGRESSION: "rmse"}


def metric_names(task: Task) -> tuple[str, ...]:
    """The metrics available for ``task``, in a stable order."""
    return tuple(name for name, m in METRICS.items() if Task(task) in m.tasks)


def get_metric(name: str, task: Task) -> Metric:
    """The metric called ``name`` for ``task``.

    Raises:
        ConfigError: the name is unknown, or the metric does not apply to the task.
    """
    task = Task(task)
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    valid = ", ".join(metric_names(task))
    metric = METRICS.get(key)
    if metric is None:
        raise ConfigError(f"unknown metric {name!r}", expected=f"for {task}: {valid}",
                          found=repr(name), fix=f"pass --metric with one of: {valid}")
    if task not in metric.tasks:
        applies = ", ".join(sorted(str(t) for t in metric.tasks))
        raise ConfigError(f"metric {metric.name!r} does not apply to {task} tasks",
                          expected=f"a {task} metric: {valid}",
                          found=f"{metric.name!r} (for {applies})",
                          fix=f"pass --metric with one of: {valid}")
    return metric


def default_metric(task: Task) -> Metric:
    """roc_auc for binary, log_loss for multiclass, rmse for regression."""
    return METRICS[_DEFAULTS[Task(task)]]


def _encode(y_true: Any, classes: Sequence[Any]) -> np.ndarray:
    """Integer codes 0..k-1 pass through; other labels become their position in ``classes``."""
    y = np.asarray(y_true)
    k = len(classes)
    if np.issubdtype(y.dtype, np.integer) and (y.size == 0 or (y.min() >= 0 and y.max() < k)):
        return y.astype(np.int64)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in y.tolist() if v not in index})
    if unknown:
        raise DataError("labels do not match the model's classes",
                        expected=f"codes 0..{k - 1} or one of {list(classes)[:10]}",
                        found=", ".join(repr(u) for u in unknown[:5]),
                        fix="evaluate on labels of the classes the model was trained on")
    return np.array([index[v] for v in y.tolist()], dtype=np.int64)


def evaluate(task: Task, y_true: Any, prediction: Any,
             classes: Sequence[Any] | None = None,
             threshold: float | None = None) -> dict[str, float | None]:
    """Every metric of ``task`` on the given predictions, as JSON-safe floats.

    Args:
        task: the task.
        y_true: for classification, integer codes 0..k-1 (or, when ``classes`` is given and
            the values are not such codes, the original labels); for regression, the values.
        prediction: probabilities (n, k) for classification, values (n,) for regression.
        classes: the label of each probability column, in order.
        threshold: binary only: the decision threshold the model labels with; the label
            metrics (accuracy, balanced accuracy, F1) are computed at it (default 0.5).

    Returns:
        name -> value for every metric of the task; None (never NaN) where a metric is
        undefined on these rows, such as AUC when only one class is present.

    Example:
        >>> import numpy as np
        >>> out = evaluate(Task.BINARY, np.array(["no", "yes", "yes"]),
        ...                np.array([[.8, .2], [.3, .7], [.6, .4]]), classes=["no", "yes"])
        >>> out["accuracy"], out["roc_auc"]
        (0.6666666666666666, 1.0)
    """
    task = Task(task)
    if task.is_classification and classes is not None:
        y_true = _encode(y_true, classes)
    out: dict[str, float | None] = {}
    for name in metric_names(task):
        value = METRICS[name](y_true, prediction)
        out[name] = value if math.isfinite(value) else None
    if task is Task.BINARY and threshold is not None:
        y = np.asarray(y_true).astype(np.int64)
        labels = (np.asarray(prediction)[:, 1] >= threshold).astype(np.int64)
        out["accuracy"] = float(np.mean(labels == y))
        out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y, labels))
        out["f1"] = float(skm.f1_score(y, labels, zero_division=0.0))
    return out


def is_better(candidate: float | None, incumbent: float | None, metric: Metric) -> bool:
    """Strictly better in the metric's direction; anything finite beats no incumbent."""
    if candidate is None or not math.isfinite(candidate):
        return False
    if incumbent is None or not math.isfinite(incumbent):
        return True
    if metric.greater_is_better:
        return candidate > incumbent
    return candidate < incumbent
