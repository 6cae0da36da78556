"""Greedy ensemble selection (Caruana et al., 2004) over the scored predictions of trials.

Start from the best trial, then repeatedly add (with replacement) the trial whose inclusion
most improves the averaged prediction's score; the weights are how often each was picked.
Ties go to the earlier trial, so the result is deterministic.

Example:
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> preds = {1: y + 1.0, 2: y - 1.0, 3: y + 3.0}
    >>> def neg_mse(t, p): return -float(np.mean((t - p) ** 2))
    >>> select_ensemble(preds, y, neg_mse, greater_is_better=True, rounds=10)
    {1: 0.5, 2: 0.5}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

DEFAULT_ROUNDS = 25
MAX_CANDIDATES = 12


def select_ensemble(predictions: Mapping[int, np.ndarray], y: np.ndarray,
                    score: Callable[[np.ndarray, np.ndarray], float], *,
                    greater_is_better: bool, rounds: int = DEFAULT_ROUNDS) -> dict[int, float]:
    """Weights per trial number (summing to 1) of the greedy ensemble."""
    if not predictions:
        return {}
    sign = 1.0 if greater_is_better else -1.0
    numbers = list(predictions)
    single = {n: sign * score(y, predictions[n]) for n in numbers}
    first = max(numbers, key=lambda n: (single[n], -n))
    counts = {first: 1}
    total = predictions[first].astype(np.float64).copy()
    best = single[first]
    for size in range(2, rounds + 1):
        choice, choice_score = None, -np.inf
        for n in numbers:
            value = sign * score(y, (total + predictions[n]) / size)
            if value > choice_score:
                choice, choice_score = n, value
        if choice is None or choice_score <= best + 1e-12:
            break
        counts[choice] = counts.get(choice, 0) + 1
        total += predictions[choice]
        best = max(best, choice_score)
    picked = sum(counts.values())
    return {n: counts[n] / picked for n in sorted(counts)}
