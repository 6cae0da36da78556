"""What the search optimises: a scorer turns validation truth and predictions into one number.

The evaluation layer supplies real metrics; anything with this shape works.

Example:
    >>> import numpy as np
    >>> class Accuracy:
    ...     name = "accuracy"
    ...     greater_is_better = True
    ...     def __call__(self, y_true, prediction):
    ...         return float(np.mean(np.argmax(prediction, axis=1) == y_true))
    >>> scorer = Accuracy()
    >>> isinstance(scorer, Scorer), scorer(np.array([1, 0]), np.array([[0.2, 0.8], [0.3, 0.7]]))
    (True, 0.5)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Scorer(Protocol):
    """A validation metric.

    ``prediction`` is what a model adapter predicts: (n, k) class probabilities for
    classification (columns in encoded class order), (n,) values for regression. ``y_true`` is
    int-encoded 0..k-1 for classification, float for regression.
    """

    name: str
    greater_is_better: bool

    def __call__(self, y_true: np.ndarray, prediction: np.ndarray) -> float: ...
