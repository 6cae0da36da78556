"""Statistics profile of a table: JSON-safe numbers per column, computed vectorized.

Example:
    >>> import pandas as pd
    >>> p = profile_table(pd.DataFrame({"dist": [100, 200, None], "carrier": ["UA", "UA", "AA"]}))
    >>> p["n_rows"], p["columns"]["dist"]["missing"], p["columns"]["dist"]["mean"]
    (3, 1, 150.0)
    >>> p["columns"]["carrier"]["top"]
    [{'value': 'UA', 'count': 2}, {'value': 'AA', 'count': 1}]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.data import _values as values

TOP_VALUES = 10
_QUANTILES = {"p01": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99}


def _num(x: Any) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _numeric_stats(series: pd.Series) -> dict[str, Any]:
    arr = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = arr[np.isfinite(arr)]
    stats: dict[str, Any] = {"kind": "numeric"}
    if finite.size == 0:
        stats.update({k: None for k in ("mean", "std", "min", "max", *_QUANTILES)})
        return stats
    quantiles = np.quantile(finite, list(_QUANTILES.values()))
    stats.update({
        "mean": _num(finite.mean()),
        "std": _num(finite.std(ddof=1)) if finite.size > 1 else None,
        "min": _num(finite.min()),
        "max": _num(finite.max()),
    })
    stats.update({k: _num(q) for k, q in zip(_QUANTILES, quantiles, strict=True)})
    return stats


def _top_values(series: pd.Series) -> list[dict[str, Any]]:
    counts = series.value_counts(dropna=True).head(TOP_VALUES)
    return [{"value": str(v), "count": int(c)} for v, c in counts.items()]


def _datetime_stats(series: pd.Series) -> dict[str, Any]:
    present = series.dropna()
    if present.empty:
        return {"kind": "datetime", "min": None, "max": None}
    return {"kind": "datetime", "min": present.min().isoformat(),
            "max": present.max().isoformat()}


def profile_column(series: pd.Series) -> dict[str, Any]:
    """Statistics of one column (see :func:`profile_table`)."""
    n = len(series)
    missing = int(series.isna().sum())
    base: dict[str, Any] = {
        "dtype": str(series.dtype),
        "missing": missing,
        "missing_fraction": _num(missing / n) if n else 0.0,
        "n_unique": int(series.nunique(dropna=True)),
    }
    if values.is_boolean(series):
        base.update({"kind": "boolean", "top": _top_values(series)})
    elif values.is_number(series):
        base.update(_numeric_stats(series))
    elif values.is_datetime(series):
        base.update(_datetime_stats(series))
    else:
        base.update({"kind": "categorical", "top": _top_values(series)})
    return base


def profile_table(df: pd.DataFrame) -> dict[str, Any]:
    """A JSON-safe statistics profile: table size and per-column statistics.

    Every column has dtype, missing, missing_fraction, n_unique and kind; numeric columns add
    mean, std, min, max and the p01/p25/p50/p75/p99 quantiles; text and boolean columns add the
    10 most frequent values with counts; datetime columns add min and max as ISO strings.
    Missing statistics are None, never NaN.
    """
    return {
        "n_rows": len(df),
        "n_columns": int(df.shape[1]),
        "memory_bytes": int(df.memory_usage(deep=True, index=False).sum()),
        "columns": {str(name): profile_column(df[name]) for name in df.columns},
    }
