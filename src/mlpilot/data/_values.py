"""Series-level helpers: recognise and coerce dates, numbers and booleans, vectorized.

Each ``coerce_*`` returns the converted series and a boolean mask of the values that were
present but could not be converted, so callers can report an example bad value.
"""

from __future__ import annotations

import contextlib
import re
import warnings

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format

_DATE_LIKE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{1,2}/\d{1,2}/\d{2})"
    r"([ T]\d{1,2}(:\d{2}){0,2}.*)?\s*$"
)
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
DATE_SHARE = 0.95


def is_textual(series: pd.Series) -> bool:
    """Strings, objects or pandas categoricals: values a person typed, not numbers."""
    return (
        ptypes.is_string_dtype(series.dtype)
        or ptypes.is_object_dtype(series.dtype)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def is_datetime(series: pd.Series) -> bool:
    return ptypes.is_datetime64_any_dtype(series.dtype)


def is_boolean(series: pd.Series) -> bool:
    return ptypes.is_bool_dtype(series.dtype) and not is_textual(series)


def is_integer(series: pd.Series) -> bool:
    return ptypes.is_integer_dtype(series.dtype) and not is_boolean(series)


def is_number(series: pd.Series) -> bool:
    return ptypes.is_numeric_dtype(series.dtype) and not is_boolean(series)


def _parse_dates(values: pd.Series) -> pd.Series:
    """Parse strings as datetimes: one guessed format (fast), then mixed formats for the rest."""
    text = values.astype("str")
    first = text.dropna()
    fmt = guess_datetime_format(first.iloc[0]) if len(first) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt is not None:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        else:
            parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
        left = parsed.isna() & text.notna()
        if left.any():
            mixed = pd.to_datetime(text[left], format="mixed", errors="coerce")
            if getattr(mixed.dt, "tz", None) is None and getattr(parsed.dt, "tz", None) is None:
                parsed = parsed.astype("datetime64[us]")
                parsed[left] = mixed.astype("datetime64[us]")
    return parsed


def looks_like_dates(series: pd.Series, sample: int = 2000) -> bool:
    """True when more than 95% of the non-null strings of ``series`` read as dates."""
    if not is_textual(series) or isinstance(series.dtype, pd.CategoricalDtype):
        return False
    values = series.dropna()
    if values.empty:
        return False
    uniques = pd.Series(values.unique()[:sample]).astype("str")
    if uniques.str.match(_DATE_LIKE).mean() <= DATE_SHARE:
        return False
    return bool(_parse_dates(uniques).notna().mean() > DATE_SHARE)


def guess_format(series: pd.Series) -> str | None:
    """The strftime format of the first date string of ``series`` (None if it has none)."""
    present = series.dropna()
    if present.empty:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return guess_datetime_format(str(present.iloc[0]))


def coerce_datetime(series: pd.Series, dtype: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Datetimes from datetimes or strings; ``dtype`` (e.g. 'datetime64[us]') if it applies."""
    if is_datetime(series):
        out = series
    elif is_textual(series):
        out = _parse_dates(series)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = pd.to_datetime(series, errors="coerce")
    if dtype and dtype.startswith("datetime64") and str(out.dtype) != dtype:
        with contextlib.suppress(TypeError, ValueError):
            out = out.astype(dtype)
    bad = out.isna() & series.notna()
    return out, bad


def _blank_to_na(series: pd.Series) -> pd.Series:
    if not is_textual(series):
        return series
    text = series.astype("str")
    return text.where(text.str.strip() != "", None)


def coerce_numeric(series: pd.Series, *, integer: bool = False,
                   dtype: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Numbers from numbers or numeric strings ("12", " 3.5"); blank strings count as missing.

    With ``integer``, fractional values are bad; the result is ``dtype`` (the trained integer
    dtype) when nothing is missing, float64 otherwise.
    """
    source = _blank_to_na(series)
    if is_boolean(source):
        source = source.astype("float64")
    out = pd.to_numeric(source, errors="coerce")
    out = pd.Series(np.asarray(out, dtype="float64"), index=series.index, name=series.name)
    bad = out.isna() & source.notna()
    if integer:
        fractional = out.notna() & (out != np.floor(out))
        bad = bad | fractional
        if not out.isna().any():
            target = dtype if dtype and ptypes.is_integer_dtype(dtype) else "int64"
            return out.astype(target), bad
    return out, bad


def coerce_boolean(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Booleans from booleans, 0/1 and the words true/false/yes/no (any case)."""
    if is_boolean(series):
        out = series
    else:
        text = _blank_to_na(series).astype("str").str.strip().str.lower()
        out = pd.Series(pd.NA, index=series.index, dtype="boolean", name=series.name)
        out[text.isin(_TRUE).to_numpy(dtype=bool)] = True
        out[text.isin(_FALSE).to_numpy(dtype=bool)] = False
    bad = out.isna() & _blank_to_na(series).notna()
    if not out.isna().any():
        out = out.astype("bool")
    return out, bad


def coerce_text(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Strings, keeping missing values missing; never fails."""
    out = series.astype("str")
    return out, pd.Series(False, index=series.index)
