"""Profile and validate a large table in chunks, never holding the whole table.

:class:`TableProfiler` takes the table chunk by chunk and keeps, per column, running counts,
sums, extremes, value counts (capped) and a bounded systematic sample for quantiles, so memory
depends on the chunk size and the sample, not on the table. Its result has the shape of
:func:`mlpilot.data.profile.profile_table` and the same numbers, except that quantiles come
from a sample above :data:`SAMPLE_ROWS` values and ``n_unique`` is None above
:data:`MAX_TRACKED_VALUES` distinct values. :func:`scan_file` reads a file with
:func:`mlpilot.data.sources.read_table_chunks` (the checks of ``read_table``), profiles it and,
given a schema, validates it with :class:`mlpilot.data.validate.BatchValidator`.

Example:
    >>> import tempfile, pathlib, pandas as pd
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "a", None]}).to_parquet(path)
    >>> scan = scan_file(path, batch_rows=2)
    >>> scan.profile["n_rows"], scan.profile["columns"]["x"]["mean"]
    (4, 2.3333333333333335)
    >>> scan.profile["columns"]["c"]["top"][0]
    {'value': 'a', 'count': 2}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.data import _values as values
from mlpilot.data.findings import Finding
from mlpilot.data.profile import TOP_VALUES
from mlpilot.data.schema import Schema
from mlpilot.data.sources import CHUNK_ROWS, read_table_chunks
from mlpilot.data.validate import BatchValidator

SAMPLE_ROWS = 100_000
MAX_TRACKED_VALUES = 100_000
_QUANTILES = {"p01": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99}


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class _Column:
    """Running statistics of one column."""

    kind: str = ""
    dtype: str = ""
    n: int = 0
    missing: int = 0
    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: Any = None
    high: Any = None
    sample: list[np.ndarray] = field(default_factory=list)
    sample_size: int = 0
    stride: int = 1
    seen: int = 0
    counts: pd.Series | None = None
    uniques: np.ndarray = field(default_factory=lambda: np.empty(0))
    capped: bool = False

    def add(self, series: pd.Series) -> None:
        if not self.kind:
            self.dtype = str(series.dtype)
            self.kind = ("boolean" if values.is_boolean(series) else "numeric"
                         if values.is_number(series) else "datetime"
                         if values.is_datetime(series) else "categorical")
        self.n += len(series)
        self.missing += int(series.isna().sum())
        if self.kind == "numeric":
            numbers = (series.to_numpy(dtype="float64", na_value=np.nan)
                       if values.is_number(series) or values.is_boolean(series)
                       else pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64"))
            self._add_numbers(numbers)
            self._add_uniques(numbers[~np.isnan(numbers)])
        elif self.kind == "datetime":
            present = series.dropna()
            if len(present) and values.is_datetime(present):
                low, high = present.min().isoformat(), present.max().isoformat()
                self.low = min(self.low, low) if self.low else low
                self.high = max(self.high, high) if self.high else high
            self._add_values(series)
        else:
            self._add_values(series)

    def _add_numbers(self, arr: np.ndarray) -> None:
        finite = arr[np.isfinite(arr)]
        if not finite.size:
            return
        self.count += finite.size
        self.total += float(finite.sum())
        self.total_sq += float(np.square(finite).sum())
        low, high = float(finite.min()), float(finite.max())
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)
        first = (-self.seen) % self.stride  # values at positions divisible by the stride
        self.seen += finite.size
        self.sample.append(finite[first::self.stride].copy())
        self.sample_size += self.sample[-1].size
        if self.sample_size > 2 * SAMPLE_ROWS:  # halve the sample, double the stride
            kept = np.concatenate(self.sample)[::2]
            self.sample, self.sample_size, self.stride = [kept], kept.size, self.stride * 2

    def _add_values(self, series: pd.Series) -> None:
        if self.capped:
            return
        counted = series.value_counts(dropna=True)
        self.counts = counted if self.counts is None else self.counts.add(counted, fill_value=0)
        if len(self.counts) > MAX_TRACKED_VALUES:
            self.capped, self.counts = True, None

    def _add_uniques(self, present: np.ndarray) -> None:
        if self.capped:
            return
        self.uniques = np.union1d(self.uniques, present)
        if self.uniques.size > MAX_TRACKED_VALUES:
            self.capped, self.uniques = True, np.empty(0)

    def result(self) -> dict[str, Any]:
        counts = self.counts if self.counts is not None else pd.Series(dtype="int64")
        out: dict[str, Any] = {"dtype": self.dtype, "missing": self.missing,
                               "missing_fraction": _num(self.missing / self.n) if self.n else 0.0,
                               "n_unique": None if self.capped else max(
                                   len(counts), int(self.uniques.size)),
                               "kind": self.kind}
        if self.kind == "numeric":
            mean = self.total / self.count if self.count else None
            var = ((self.total_sq - self.count * mean * mean) / (self.count - 1)
                   if self.count > 1 and mean is not None else None)
            sample = np.concatenate(self.sample) if self.sample else np.empty(0)
            quantiles = (np.quantile(sample, list(_QUANTILES.values())) if sample.size
                         else [None] * len(_QUANTILES))
            out.update({"mean": _num(mean), "std": _num(math.sqrt(max(var, 0.0)))
                        if var is not None else None, "min": _num(self.low),
                        "max": _num(self.high)})
            out.update({k: _num(q) for k, q in zip(_QUANTILES, quantiles, strict=True)})
        elif self.kind == "datetime":
            out.update({"min": self.low, "max": self.high})
        else:
            top = sorted(((str(k), int(c)) for k, c in counts.items()),
                         key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
            out["top"] = [{"value": k, "count": c} for k, c in top]
        return out


class TableProfiler:
    """Accumulates a table's profile chunk by chunk; :meth:`result` is the profile dict."""

    def __init__(self) -> None:
        self.rows = 0
        self._memory = 0
        self._columns: dict[str, _Column] = {}

    def add(self, chunk: pd.DataFrame) -> None:
        self.rows += len(chunk)
        self._memory += int(chunk.memory_usage(deep=True, index=False).sum())
        for name in chunk.columns:
            self._columns.setdefault(str(name), _Column()).add(chunk[name])

    def result(self) -> dict[str, Any]:
        return {"n_rows": self.rows, "n_columns": len(self._columns),
                "memory_bytes": self._memory,
                "columns": {name: col.result() for name, col in self._columns.items()}}


@dataclass(frozen=True)
class ScanResult:
    """A file's profile (as :func:`profile_table` gives) and, with a schema, its findings."""

    profile: dict[str, Any]
    findings: tuple[Finding, ...]

    @property
    def accepted(self) -> bool:
        return not any(f.severity == "blocking" for f in self.findings)


def scan_file(path: str | Path, schema: Schema | None = None, *,
              batch_rows: int = CHUNK_ROWS) -> ScanResult:
    """Profile ``path`` chunk by chunk and, given a schema, find what breaks it (no drift).

    Raises:
        DataError: the file cannot be read as a table (as ``read_table`` says), or holds no
            rows.
    """
    profiler = TableProfiler()
    checker = BatchValidator(schema) if schema is not None else None
    for chunk in read_table_chunks(Path(path), batch_rows):
        profiler.add(chunk)
        if checker is not None:
            checker.add(chunk)
    findings = checker.finish(None).findings if checker is not None else ()
    return ScanResult(profile=profiler.result(), findings=tuple(findings))
