"""Regression target transforms: a model fitted on ``log1p(y)`` or ``sqrt(y)``, predicting back.

A skewed, non-negative target (a price, a count) is often fitted better on a compressed scale:
the squared error of the largest values no longer dominates the fit, and trees split the
range more evenly. The model learns ``forward(y)``; the :class:`~mlpilot.models.predictor.
Predictor` maps each member's output back with ``inverse`` before the members are averaged, so
every prediction path (pandas, records, Arrow, ONNX) returns values on the target's own scale,
and an ensemble may blend members fitted on different scales. When every target value is
non-negative, the search fits its first model on each scale and keeps the one that validates
best for the trials after it (:func:`mlpilot.search.study.run_search`).

Example:
    >>> import numpy as np
    >>> y = np.array([0.0, 3.0, 99.0])
    >>> forward("log1p", y).round(4).tolist()
    [0.0, 1.3863, 4.6052]
    >>> inverse("log1p", forward("log1p", y)).round(9).tolist()
    [0.0, 3.0, 99.0]
    >>> inverse("sqrt", np.array([-0.5, 2.0])).tolist()  # a negative output means 0
    [0.0, 4.0]
    >>> offered(np.array([1.0, 5.0])), offered(np.array([-1.0, 5.0]))
    (('log1p', 'sqrt'), ())
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlpilot.core.errors import ConfigError

IDENTITY = "identity"
TRANSFORMS: tuple[str, ...] = (IDENTITY, "log1p", "sqrt")
#: the parameter naming a trial's transform (absent: identity)
KEY = "target_transform"
#: log1p outputs are capped here before ``expm1``, so no prediction overflows to infinity
LOG_CAP = 700.0


def check(name: str) -> str:
    """``name`` when it is a known transform, else a ConfigError listing them."""
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown target transform {name!r}",
                          expected=", ".join(TRANSFORMS), found=repr(name),
                          fix=f"set {KEY} to one of {', '.join(TRANSFORMS)}")
    return name


def of(params: dict[str, Any]) -> str:
    """The transform a trial's parameters name (identity when they name none)."""
    return check(str(params.get(KEY, IDENTITY)))


def offered(y: np.ndarray) -> tuple[str, ...]:
    """The transforms worth trying, besides the identity, on regression targets ``y``: log1p
    and sqrt when every value is finite and non-negative, none otherwise (both need y >= 0)."""
    values = np.asarray(y, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)) or float(values.min()) < 0.0:
        return ()
    return TRANSFORMS[1:]


def forward(name: str, y: np.ndarray) -> np.ndarray:
    """The target on the scale the model is fitted on.

    Raises:
        ConfigError: a negative target under log1p or sqrt (a recorded configuration replayed
            on data it does not fit).
    """
    if check(name) == IDENTITY:
        return y
    values = np.asarray(y, dtype=np.float64)
    if values.size and float(np.nanmin(values)) < 0.0:
        raise ConfigError(f"the {name} target transform needs non-negative targets",
                          expected="every target value >= 0",
                          found=f"a minimum of {float(np.nanmin(values)):g}",
                          fix=f"fit this configuration with {KEY}={IDENTITY!r}")
    return np.log1p(values) if name == "log1p" else np.sqrt(values)


def inverse(name: str, prediction: np.ndarray) -> np.ndarray:
    """A model's output mapped back to the target's scale (the identity leaves it as it is)."""
    if check(name) == IDENTITY:
        return prediction
    values = np.asarray(prediction, dtype=np.float64)
    if name == "log1p":
        return np.expm1(np.minimum(values, LOG_CAP))
    return np.square(np.maximum(values, 0.0))


def without(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` less the transform's key (what a family's ``fit`` reads)."""
    return {k: v for k, v in params.items() if k != KEY}
