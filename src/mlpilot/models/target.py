"""Target transforms for regression: a model fitted on ``log1p(y)`` or ``sqrt(y)``.

A skewed, non-negative target (a sale price, a count) puts most of a squared-error loss on the
few largest values; a model fitted on the log or the square root of the target spreads it over
every row, and its predictions, mapped back, often score better on the original scale too.
Measured on the benchmark's training rows by bench/target_transform.py (5-fold RMSE, LightGBM
at 300 rounds): ames 24,894 as it is, 23,588 with ``log1p`` and 23,892 with ``sqrt``; diamonds
541 as it is, 537 with ``sqrt``; diabetes 60.6 as it is and worse either way. Which one pays
is a property of the data, so the search chooses it per trial, on the validation rows, in the
original units (:func:`choices`; ``mlpilot.search.study``).

A model's output is mapped back only inside the range of the values it was fitted on
(:func:`fitted_range`, recorded with the model): a model that extrapolates in log units
multiplies its error on the way back. Measured on ames (5-fold on the benchmark's training
rows, ridge at alpha 10 fitted on ``log1p``): one house predicted at 3.0 M, where the dearest
sold for 755,000, put the ridge's RMSE at 65,737; inside the fitted range it is 26,142, and
blended with LightGBM (22,927 alone) 22,257.

The transform travels with the fitted model: a trial's parameters name it under :data:`KEY`
(so a refit and a replay fit the same), :func:`split_params` takes it out before a family's
``fit`` sees them, and the :class:`~mlpilot.models.predictor.Member` records it so every
prediction (Python, Arrow, records, ONNX) maps the model's output back with :func:`inverse`.

Example:
    >>> import numpy as np
    >>> y = np.array([0.0, 3.0, 99.0])
    >>> inverse("log1p", forward("log1p", y)).round(9).tolist()
    [0.0, 3.0, 99.0]
    >>> inverse("sqrt", np.array([-1.0, 2.0])).tolist()  # below 0 maps to 0, the target's floor
    [0.0, 4.0]
    >>> inverse("sqrt", np.array([1.0, 5.0]), fitted_range("sqrt", np.array([4.0, 9.0])))
    array([4., 9.])
    >>> fitted_range("identity", np.array([4.0, 9.0])) is None
    True
    >>> choices(np.array([0.0, 5.0])), choices(np.array([-1.0, 5.0]))
    (('identity', 'log1p', 'sqrt'), ('identity',))
    >>> split_params({"num_leaves": 31, KEY: "sqrt"})
    ('sqrt', {'num_leaves': 31})
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlpilot.core.errors import ConfigError

#: where a trial's parameters name its target transform
KEY = "target_transform"
IDENTITY = "identity"
#: every transform, identity first
TRANSFORMS = (IDENTITY, "log1p", "sqrt")
#: the largest model output ``log1p`` maps back (``expm1`` of more overflows a float64)
LOG_CEILING = 700.0


def choices(y: np.ndarray) -> tuple[str, ...]:
    """The transforms a regression target allows: all of them when no value is negative (or
    missing), identity alone otherwise."""
    values = np.asarray(y, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)) or float(values.min()) < 0.0:
        return (IDENTITY,)
    return TRANSFORMS


def check(name: str) -> str:
    """``name`` when it is a known transform, else a ConfigError naming the known ones."""
    if name not in TRANSFORMS:
        raise ConfigError("unknown target transform", expected=" or ".join(TRANSFORMS),
                          found=repr(name), fix=f"set {KEY} to one of them (or leave it out)")
    return name


def forward(name: str, y: np.ndarray) -> np.ndarray:
    """The values a model of transform ``name`` is fitted on."""
    if check(name) == IDENTITY:
        return y
    values = np.asarray(y, dtype=np.float64)
    if values.size and float(values.min()) < 0.0:
        raise ConfigError(f"the {name} target transform needs a non-negative target",
                          expected="every target value >= 0", found=f"min {values.min():g}",
                          fix=f"leave {KEY} out (identity) for this target")
    return np.log1p(values) if name == "log1p" else np.sqrt(values)


def fitted_range(name: str, y: np.ndarray) -> tuple[float, float] | None:
    """The range, in the model's units, of the target values ``y`` a model of transform
    ``name`` is fitted on (in the target's units); None for identity or no rows."""
    if check(name) == IDENTITY or len(y) == 0:
        return None
    values = forward(name, np.asarray(y, dtype=np.float64))
    return float(values.min()), float(values.max())


def clip_bounds(name: str, fitted: tuple[float, float] | None) -> tuple[float, float]:
    """The model outputs :func:`inverse` maps back: the target's floor, 0, up to the float64
    overflow of ``expm1`` for ``log1p``, and inside ``fitted`` (:func:`fitted_range`) when
    it is known."""
    low, high = 0.0, LOG_CEILING if name == "log1p" else np.inf
    if fitted is not None:
        low, high = max(low, fitted[0]), min(high, fitted[1])
    return low, float(high)


def inverse(name: str, output: np.ndarray,
            fitted: tuple[float, float] | None = None) -> np.ndarray:
    """A model's outputs mapped back to the target's units, clipped first to
    :func:`clip_bounds` (the range the model was fitted on, when ``fitted`` gives it)."""
    if check(name) == IDENTITY:
        return output
    low, high = clip_bounds(name, fitted)
    values = np.clip(np.asarray(output, dtype=np.float64), low, high)
    return np.expm1(values) if name == "log1p" else values * values


def split_params(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The transform a trial's parameters name (identity when none) and the parameters
    without it, as the family's ``fit`` takes them."""
    if KEY not in params:
        return IDENTITY, params
    return check(str(params[KEY])), {k: v for k, v in params.items() if k != KEY}

