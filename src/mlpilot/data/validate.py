"""Validate a new batch of rows against a project's schema and its reference (training) data.

Blocking anomalies reject the batch: a required column missing, values that cannot be read as
the column's type (a type change), the target missing from training data. Warnings let it in
and are shown: unexpected missing values, new categories, values out of the trained range, new
columns (ignored), drift against the reference.

Environments: in ``training`` data the target is required (a batch without it, or with no
target value at all, is rejected); in ``serving`` data it is not expected, and is dropped with
a warning when present.

A batch is checked chunk by chunk (:class:`BatchValidator`), so a file of any length is
validated in bounded memory with the findings validating it whole would give; drift compares
deterministic systematic samples of at most :data:`DRIFT_SAMPLE_ROWS` rows of each side.

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import infer_schema
    >>> ref = pd.DataFrame({"dist": [100, 200, 300] * 20, "carrier": ["UA", "AA", "B6"] * 20,
    ...                     "delayed": [0, 1, 0] * 20})
    >>> schema = infer_schema(ref, target="delayed")
    >>> batch = pd.DataFrame({"dist": [150, 900], "carrier": ["UA", "DL"], "delayed": [1, 0]})
    >>> result = validate_batch(batch, schema, ref)
    >>> result.accepted, sorted(f.check for f in result.findings)
    (True, ['new_category', 'out_of_range'])
    >>> validate_batch(batch.drop(columns="delayed"), schema, ref).blocking[0].message
    'the target column is missing: training data needs it (only prediction requests leave it out)'
    >>> checker = BatchValidator(schema)
    >>> for chunk in (batch.iloc[:1], batch.iloc[1:]):
    ...     _ = checker.add(chunk)
    >>> [f.check for f in checker.finish(reference_sample(ref)).findings]
    ['out_of_range', 'new_category']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import ConfigError
from mlpilot.data.drift import TableDrift, drift_table
from mlpilot.data.findings import Finding, by_severity
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema, coerce_column

ENVIRONMENTS = ("training", "serving")
#: largest sample of either side compared for drift (a deterministic systematic sample)
DRIFT_SAMPLE_ROWS = 200_000
DRIFT_REFERENCE_ROWS = DRIFT_SAMPLE_ROWS
#: distinct new categories remembered per column (all are counted in the rows)
MAX_NEW_VALUES = 100_000
_DRIFT_KINDS = {ColumnKind.NUMERIC: "numeric", ColumnKind.INTEGER: "numeric",
                ColumnKind.BOOLEAN: "categorical", ColumnKind.CATEGORICAL: "categorical"}
_KIND_WORDS = {ColumnKind.NUMERIC: "numbers", ColumnKind.INTEGER: "whole numbers",
               ColumnKind.BOOLEAN: "booleans", ColumnKind.DATETIME: "dates or times"}


@dataclass(frozen=True)
class BatchValidation:
    """The verdict on a batch: accepted or not, the findings, the drift, the coerced rows.

    ``frame`` is the whole coerced batch when it was validated whole (:func:`validate_batch`),
    None when it was rejected or validated chunk by chunk.
    """

    accepted: bool
    findings: tuple[Finding, ...]
    drift: TableDrift | None
    frame: pd.DataFrame | None
    rows: int = 0

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "blocking")

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted,
                "drift_detected": bool(self.drift and self.drift.drifted),
                "n_rows": self.rows if self.accepted else None,
                "findings": [f.to_dict() for f in self.findings],
                "drift": self.drift.to_dict() if self.drift else None}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def drift_columns(schema: Schema) -> dict[str, str]:
    """Feature columns compared for drift, with the kind of comparison."""
    return {c.name: _DRIFT_KINDS[c.kind] for c in schema.features if c.kind in _DRIFT_KINDS}


_drift_kinds = drift_columns  # the name data/split_check.py imports


def reference_step(n_rows: int) -> int:
    """The stride of the reference sample: every row up to DRIFT_SAMPLE_ROWS rows."""
    return max(1, n_rows // DRIFT_SAMPLE_ROWS)


def reference_sample(reference: pd.DataFrame) -> pd.DataFrame:
    """The rows of the reference compared for drift (every ``reference_step``-th row)."""
    return reference.iloc[::reference_step(len(reference))]


class _Sample:
    """Rows at positions divisible by a power-of-two stride, halved when over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit, self.stride, self.seen = limit, 1, 0
        self.parts: list[pd.DataFrame] = []
        self.size = 0

    def add(self, frame: pd.DataFrame) -> None:
        first = (-self.seen) % self.stride
        self.seen += len(frame)
        part = frame.iloc[first::self.stride].copy()  # a copy: the chunk itself is let go
        self.parts.append(part)
        self.size += len(part)
        if self.size > self.limit:
            kept = pd.concat(self.parts).iloc[::2].copy()
            self.parts, self.size, self.stride = [kept], len(kept), self.stride * 2

    def frame(self, columns: list[str]) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=columns)
        return pd.concat(self.parts) if len(self.parts) > 1 else self.parts[0]


@dataclass
class _Column:
    """What the chunks seen so far say about one schema column."""

    spec: ColumnSchema
    bad: int = 0
    example: Any = None
    bad_dtype: str = ""
    present: int = 0
    missing: int = 0
    new_values: set[str] = field(default_factory=set)
    new_rows: int = 0
    outside: int = 0
    low: float = math.inf
    high: float = -math.inf

    def add(self, series: pd.Series) -> pd.Series | None:
        """Coerce one chunk of the column; count what breaks or stretches the schema."""
        spec = self.spec
        coerced, bad = coerce_column(series, spec)
        if bad.any():
            if self.example is None:
                self.example = _plain(series[bad.to_numpy(dtype=bool)].iloc[0])
                self.bad_dtype = str(series.dtype)
            self.bad += int(bad.sum())
        missing = int(coerced.isna().sum())
        self.missing += missing
        self.present += len(coerced) - missing
        if spec.categories is not None and spec.kind is ColumnKind.CATEGORICAL:
            text = coerced.dropna().astype("str")
            new = ~text.isin(spec.categories)
            if new.any():
                self.new_rows += int(new.sum())
                if len(self.new_values) < MAX_NEW_VALUES:
                    self.new_values.update(text[new.to_numpy(dtype=bool)].unique().tolist())
        if spec.kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER) and (
                spec.minimum is not None or spec.maximum is not None) and len(coerced) > missing:
            arr = coerced.to_numpy(dtype="float64", na_value=np.nan)
            outside = np.zeros(arr.size, bool)
            if spec.minimum is not None:
                outside |= arr < spec.minimum
            if spec.maximum is not None:
                outside |= arr > spec.maximum
            self.outside += int(outside.sum())
            self.low, self.high = min(self.low, np.nanmin(arr)), max(self.high, np.nanmax(arr))
        return None if self.bad else coerced

    def findings(self, is_target: bool) -> list[Finding]:
        spec = self.spec
        if self.bad:
            return [Finding(
                "type_change", "blocking",
                f"expects {_KIND_WORDS.get(spec.kind, str(spec.kind))} ({spec.kind}, dtype "
                f"{spec.dtype}) but {self.bad:,} value{' is' if self.bad == 1 else 's are'} "
                f"not, e.g. {self.example!r}",
                column=spec.name, details={"rows": self.bad, "dtype": self.bad_dtype})]
        if is_target and not self.present:
            return [Finding("missing_target", "blocking",
                            "the target column holds no values: training data needs labelled "
                            "rows", column=spec.name)]
        out = []
        if not spec.nullable and self.missing:
            out.append(Finding("unexpected_missing", "warning",
                               f"{self.missing:,} missing values in a column that had none in "
                               "training", column=spec.name, details={"missing": self.missing}))
        if self.new_values:
            new = sorted(self.new_values)
            many = len(new) >= MAX_NEW_VALUES
            out.append(Finding("new_category", "warning",
                               f"{'at least ' if many else ''}{len(new)} value(s) never seen in "
                               f"training, on {self.new_rows:,} rows: "
                               + ", ".join(repr(v) for v in new[:8])
                               + (" ..." if len(new) > 8 else ""),
                               column=spec.name,
                               details={"values": new[:50], "rows": self.new_rows}))
        if self.outside:
            out.append(Finding("out_of_range", "warning",
                               f"{self.outside:,} values outside the trained range "
                               f"[{spec.minimum:.6g}, {spec.maximum:.6g}] "
                               f"(batch {self.low:.6g} .. {self.high:.6g})",
                               column=spec.name, details={"rows": self.outside}))
        return out


class BatchValidator:
    """Validates a batch chunk by chunk; :meth:`finish` gives the verdict.

    Every chunk must have the same columns (as the chunks of one file do). ``add`` returns the
    chunk coerced to the schema's columns and types while the batch is still acceptable, None
    once a blocking anomaly has been found (the later chunks are still counted, so the report
    gives the number of bad values in the whole batch).

    Raises:
        ConfigError: ``environment`` is neither "training" nor "serving".
    """

    def __init__(self, schema: Schema, *, environment: str = "training") -> None:
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"unknown data environment {environment!r}",
                              expected=" or ".join(ENVIRONMENTS), found=repr(environment),
                              fix="validate training data with 'training', requests with "
                              "'serving'")
        self.schema, self.environment = schema, environment
        self.expected = [c for c in schema.columns
                         if not (environment == "serving" and c.name == schema.target)]
        self.rows = 0
        self._header: list[Finding] | None = None
        self._columns: dict[str, _Column] = {}
        self._filled: list[str] = []
        self._sample = _Sample(DRIFT_SAMPLE_ROWS)
        self._drift = [c for c in drift_columns(schema) if c in {s.name for s in self.expected}]

    @property
    def accepted(self) -> bool:
        """Whether the chunks seen so far hold no blocking anomaly."""
        return self._header is not None and not any(
            f.severity == "blocking" for f in self.findings())

    def _blocked(self) -> bool:
        return (any(f.severity == "blocking" for f in self._header or [])
                or any(c.bad for c in self._columns.values()))

    def _start(self, names: list[str]) -> None:
        schema, present = self.schema, set(names)
        header: list[Finding] = []
        doubled = sorted({n for n in names if names.count(n) > 1})
        for name in doubled:
            header.append(Finding("duplicate_column", "blocking",
                                  "the column appears more than once", column=name))
        for extra in sorted(present - set(schema.names)):
            header.append(Finding("new_column", "warning", "not in the schema: ignored",
                                  column=extra))
        if self.environment == "serving" and schema.target in present:
            header.append(Finding("target_in_serving", "warning",
                                  "the target is not expected in serving data: ignored",
                                  column=schema.target))
        for spec in self.expected:
            if spec.name in present and spec.name not in doubled:
                self._columns[spec.name] = _Column(spec)
            elif spec.name not in present:
                header.extend(self._missing(spec))
        self._header = header

    def _missing(self, spec: ColumnSchema) -> list[Finding]:
        if spec.name == self.schema.target:
            return [Finding("missing_target", "blocking",
                            "the target column is missing: training data needs it (only "
                            "prediction requests leave it out)", column=spec.name)]
        if spec.kind is ColumnKind.IDENTIFIER or spec.name in self.schema.id_columns:
            self._filled.append(spec.name)
            return [Finding("missing_column", "warning", "required column missing (an "
                            "identifier: filled with missing values)", column=spec.name)]
        return [Finding("missing_column", "blocking", "required column missing",
                        column=spec.name)]

    def add(self, chunk: pd.DataFrame) -> pd.DataFrame | None:
        """Check one chunk; return it coerced (None once the batch is rejected)."""
        frame = chunk.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        if self._header is None:
            self._start(list(frame.columns))
        index = pd.RangeIndex(self.rows, self.rows + len(frame))
        self.rows += len(frame)
        out: dict[str, pd.Series | None] = {
            name: column.add(frame[name]) for name, column in self._columns.items()}
        if self._blocked():
            return None
        for name in self._filled:
            out[name] = pd.Series(pd.NA, index=frame.index, dtype="object")
        coerced = pd.DataFrame(out, columns=[s.name for s in self.expected])
        coerced.index = index
        self._sample.add(coerced[self._drift])
        return coerced

    def findings(self) -> list[Finding]:
        """The findings of the chunks seen so far, without drift, in schema order."""
        out = list(self._header or [])
        for name, column in self._columns.items():
            out.extend(column.findings(name == self.schema.target))
        return out

    def finish(self, reference: pd.DataFrame | None, *,
               frame: pd.DataFrame | None = None) -> BatchValidation:
        """The verdict, comparing the batch's sample with ``reference`` (a sample of the
        training data, see :func:`reference_sample`; None: no drift check)."""
        if self._header is None:
            self._start([])
        findings = self.findings()
        if any(f.severity == "blocking" for f in findings):
            return BatchValidation(False, tuple(by_severity(findings)), None, None, self.rows)
        drift = None
        if reference is not None and len(reference):
            current = self._sample.frame(self._drift)
            kinds = {c: k for c, k in drift_columns(self.schema).items() if c in self._drift}
            drift = drift_table(reference, current, kinds)
            for col in drift.columns:
                if col.drifted:
                    findings.append(Finding(
                        "drift", "warning",
                        f"distribution differs from the reference ({col.test} {col.statistic} "
                        f"{col.score:.4g}, threshold {col.threshold})",
                        column=col.column, details=col.to_dict()))
            if drift.drifted:
                findings.append(Finding(
                    "dataset_drift", "warning",
                    f"{len(drift.drifted_columns)} of {len(drift.columns)} columns drifted "
                    f"({drift.share_drifted:.0%} ≥ 50%): the batch differs from the training "
                    "data"))
        return BatchValidation(True, tuple(by_severity(findings)), drift, frame, self.rows)


def validate_batch(batch: pd.DataFrame, schema: Schema, reference: pd.DataFrame | None, *,
                   environment: str = "training") -> BatchValidation:
    """Check ``batch`` against ``schema`` and compare it with ``reference`` for drift.

    Args:
        batch: the new rows.
        schema: the project's current schema.
        reference: the training data the drift is measured against (None: no drift check).
        environment: "training" (the target is required) or "serving" (it is not expected).

    Returns:
        The verdict; ``frame`` holds the batch coerced to the schema's columns and types (the
        target left out in serving), or None when the batch was rejected.
    """
    checker = BatchValidator(schema, environment=environment)
    coerced = checker.add(batch)
    if coerced is not None:
        coerced = coerced.reset_index(drop=True)
    sample = None if reference is None else reference_sample(reference)
    return checker.finish(sample, frame=coerced)
