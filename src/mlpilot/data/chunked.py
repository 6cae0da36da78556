"""Profile and validate a large file in chunks (pyarrow), never holding the whole table.

Parquet is read row group by row group (``iter_batches``), CSV with pyarrow's streaming reader.
Per column the scan keeps running counts, sums, extremes, value counts (capped) and a bounded
systematic sample for quantiles, so memory depends on the chunk size and the sample, not on the
file. The result has the shape of :func:`mlpilot.data.profile.profile_table`; with a schema it
also counts, per column, the values that break it (type, missing, domain, range).

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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlpilot.core.errors import DataError
from mlpilot.data import _values as values
from mlpilot.data.findings import Finding
from mlpilot.data.profile import TOP_VALUES
from mlpilot.data.schema import ColumnKind, Schema, coerce_column

BATCH_ROWS = 1 << 17
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
    counts: dict[str, int] = field(default_factory=dict)
    uniques: np.ndarray = field(default_factory=lambda: np.empty(0))
    capped: bool = False

    def add_numbers(self, arr: np.ndarray) -> None:
        finite = arr[np.isfinite(arr)]
        if finite.size:
            self.count += finite.size
            self.total += float(finite.sum())
            self.total_sq += float(np.square(finite).sum())
            self.low = min(self.low, float(finite.min())) if self.low is not None \
                else float(finite.min())
            self.high = max(self.high, float(finite.max())) if self.high is not None \
                else float(finite.max())
            self.sample.append(finite[::self.stride].copy())
            self.sample_size += self.sample[-1].size
            if self.sample_size > 2 * SAMPLE_ROWS:  # halve the sample, double the stride
                kept = np.concatenate(self.sample)[::2]
                self.sample, self.sample_size, self.stride = [kept], kept.size, self.stride * 2

    def add_values(self, chunk: pa.ChunkedArray | pa.Array) -> None:
        if self.capped:
            return
        counted = pc.value_counts(chunk)
        keys = counted.field("values").to_pylist()
        for key, n in zip(keys, counted.field("counts").to_numpy(), strict=True):
            if key is not None:
                text = str(key)
                self.counts[text] = self.counts.get(text, 0) + int(n)
        if len(self.counts) > MAX_TRACKED_VALUES:
            self.capped, self.counts = True, {}

    def add_uniques(self, finite: np.ndarray) -> None:
        if self.capped:
            return
        self.uniques = np.union1d(self.uniques, finite)
        if self.uniques.size > MAX_TRACKED_VALUES:
            self.capped, self.uniques = True, np.empty(0)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "missing": self.missing,
                               "missing_fraction": _num(self.missing / self.n) if self.n else 0.0,
                               "n_unique": None if self.capped else max(
                                   len(self.counts), int(self.uniques.size)),
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
            top = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
            out["top"] = [{"value": k, "count": c} for k, c in top]
        return out


@dataclass
class _Check:
    """Running schema violations of one column."""

    bad: int = 0
    example: Any = None
    missing: int = 0
    new_values: set[str] = field(default_factory=set)
    new_rows: int = 0
    out_of_range: int = 0


@dataclass(frozen=True)
class ScanResult:
    """A file's profile (as :func:`profile_table` gives) and, with a schema, its findings."""

    profile: dict[str, Any]
    findings: tuple[Finding, ...]

    @property
    def accepted(self) -> bool:
        return not any(f.severity == "blocking" for f in self.findings)


def _batches(path: Path, batch_rows: int):
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        elif suffix in (".csv", ".tsv"):
            options = pacsv.ReadOptions(block_size=1 << 24)
            parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            yield from pacsv.open_csv(path, read_options=options, parse_options=parse)
        else:
            raise DataError(f"cannot scan {path.name!r}: unsupported file type",
                            expected="a .csv, .tsv or .parquet file", found=suffix or "no suffix",
                            fix="export the table as CSV or Parquet")
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read {str(path)!r} in chunks",
                        expected="a well-formed CSV or Parquet file",
                        found=f"{type(exc).__name__}: {exc}",
                        fix="check the file with `mlpilot project create` or re-export it"
                        ) from exc


def _update_profile(col: _Column, array: pa.Array, series: pd.Series) -> None:
    col.n += len(array)
    col.missing += array.null_count
    if not col.kind:
        col.dtype = str(series.dtype)
        col.kind = ("boolean" if values.is_boolean(series) else "numeric"
                    if values.is_number(series) else "datetime"
                    if values.is_datetime(series) else "categorical")
    if col.kind == "numeric":
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        col.add_numbers(numbers)
        col.add_uniques(numbers[~np.isnan(numbers)])
    elif col.kind == "datetime":
        present = series.dropna()
        if len(present):
            low, high = present.min().isoformat(), present.max().isoformat()
            col.low = min(col.low, low) if col.low else low
            col.high = max(col.high, high) if col.high else high
        col.add_values(array)
    else:
        col.add_values(array)


def _update_check(check: _Check, series: pd.Series, spec: Any) -> None:
    coerced, bad = coerce_column(series, spec)
    if bad.any():
        if check.example is None:
            check.example = series[bad.to_numpy(dtype=bool)].iloc[0]
        check.bad += int(bad.sum())
        return
    check.missing += int(coerced.isna().sum())
    if spec.kind is ColumnKind.CATEGORICAL and spec.categories is not None:
        text = coerced.dropna().astype("str")
        new = ~text.isin(spec.categories)
        if new.any():
            check.new_rows += int(new.sum())
            if len(check.new_values) < 50:
                check.new_values.update(text[new].unique()[:50].tolist())
    if spec.kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER) and spec.minimum is not None:
        arr = coerced.to_numpy(dtype="float64", na_value=np.nan)
        check.out_of_range += int((arr < spec.minimum).sum() + (arr > spec.maximum).sum())


def _findings(checks: dict[str, _Check], schema: Schema, seen: set[str]) -> list[Finding]:
    out = [Finding("missing_column", "blocking", "required column missing", column=c.name)
           for c in schema.columns if c.name not in seen]
    for name, check in checks.items():
        spec = schema.column(name)
        if check.bad:
            out.append(Finding("type_change", "blocking",
                               f"expects {spec.kind} values but {check.bad:,} are not, e.g. "
                               f"{check.example!r}", column=name, details={"rows": check.bad}))
        if check.missing and not spec.nullable:
            out.append(Finding("unexpected_missing", "warning",
                               f"{check.missing:,} missing values in a column that had none",
                               column=name, details={"missing": check.missing}))
        if check.new_rows:
            out.append(Finding("new_category", "warning",
                               f"{len(check.new_values)} value(s) never seen in training on "
                               f"{check.new_rows:,} rows", column=name,
                               details={"values": sorted(check.new_values)}))
        if check.out_of_range:
            out.append(Finding("out_of_range", "warning",
                               f"{check.out_of_range:,} values outside the trained range",
                               column=name, details={"rows": check.out_of_range}))
    return out


def scan_file(path: str | Path, schema: Schema | None = None, *,
              batch_rows: int = BATCH_ROWS) -> ScanResult:
    """Profile ``path`` chunk by chunk and, given a schema, count what breaks it.

    Raises:
        DataError: the file cannot be read, or holds no rows.
    """
    path = Path(path)
    columns: dict[str, _Column] = {}
    checks: dict[str, _Check] = {}
    n_rows = memory = 0
    for batch in _batches(path, batch_rows):
        n_rows += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            series = array.to_pandas()
            memory += int(array.nbytes)
            _update_profile(columns.setdefault(name, _Column()), array, series)
            if schema is not None and name in schema.names:
                _update_check(checks.setdefault(name, _Check()), series, schema.column(name))
    if n_rows == 0:
        raise DataError(f"{str(path)!r} holds no rows", expected="at least one data row",
                        found="a header or schema only", fix="check that the export wrote rows")
    profile = {"n_rows": n_rows, "n_columns": len(columns), "memory_bytes": memory,
               "columns": {name: col.result() for name, col in columns.items()}}
    findings = _findings(checks, schema, set(columns)) if schema is not None else []
    return ScanResult(profile=profile, findings=tuple(findings))
