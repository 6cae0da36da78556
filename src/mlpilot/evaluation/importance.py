"""Permutation importance: how much the test metric worsens when one column is shuffled.

Model-agnostic (it only calls a predict function on raw frames), so it works for every family
and for the whole Predictor, preprocessing included.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"signal": np.arange(100.0), "noise": np.zeros(100)})
    >>> y = X["signal"].to_numpy()
    >>> score = lambda yt, p: -float(np.mean((yt - p) ** 2))
    >>> out = permutation_importance(lambda f: f["signal"].to_numpy(), X, y, score, seed=0)
    >>> [name for name, _ in out], out[1][1]
    (['signal', 'noise'], 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def permutation_importance(predict: Callable[[pd.DataFrame], Any], X: pd.DataFrame, y: Any,
                           score: Callable[[Any, Any], float], *, seed: int = 0,
                           repeats: int = 1) -> list[tuple[str, float]]:
    """Score drop per column when that column's values are permuted, largest first.

    Args:
        predict: raw prediction for a frame (probabilities or values).
        score: higher is better (negate losses before passing them).
        repeats: permutations per column; the drops are averaged.
    """
    rng = np.random.default_rng(seed)
    reference = float(score(y, predict(X)))
    out: list[tuple[str, float]] = []
    for column in X.columns:
        drops = []
        for _ in range(repeats):
            shuffled = X.copy()
            order = rng.permutation(len(X))
            shuffled[column] = X[column].iloc[order].to_numpy()
            drops.append(reference - float(score(y, predict(shuffled))))
        out.append((str(column), float(np.mean(drops))))
    out.sort(key=lambda item: (-item[1], item[0]))
    return out
