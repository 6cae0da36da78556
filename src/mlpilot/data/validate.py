"""Validate a new batch of rows against a project's schema and its reference (training) data.

Blocking anomalies reject the batch: a required column missing, values that cannot be read as
the column's type (a type change), the target missing from training data. Warnings let it in
and are shown: unexpected missing values, new categories, values out of the trained range, new
columns (ignored), drift against the reference.

Environments: in ``training`` data the target is required; in ``serving`` data it is not
expected, and is dropped with a warning when present.

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
    >>> validate_batch(batch.drop(columns="delayed"), schema, ref).accepted
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import ConfigError
from mlpilot.data.drift import TableDrift, drift_table
from mlpilot.data.findings import Finding, by_severity
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema, coerce_column

ENVIRONMENTS = ("training", "serving")
#: largest reference sample compared for drift (a deterministic stride sample)
DRIFT_REFERENCE_ROWS = 200_000
_DRIFT_KINDS = {ColumnKind.NUMERIC: "numeric", ColumnKind.INTEGER: "numeric",
                ColumnKind.BOOLEAN: "categorical", ColumnKind.CATEGORICAL: "categorical"}
_KIND_WORDS = {ColumnKind.NUMERIC: "numbers", ColumnKind.INTEGER: "whole numbers",
               ColumnKind.BOOLEAN: "booleans", ColumnKind.DATETIME: "dates or times"}


@dataclass(frozen=True)
class BatchValidation:
    """The verdict on a batch: accepted or not, the findings, the drift, the coerced rows."""

    accepted: bool
    findings: tuple[Finding, ...]
    drift: TableDrift | None
    frame: pd.DataFrame | None

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "blocking")

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted,
                "drift_detected": bool(self.drift and self.drift.drifted),
                "n_rows": None if self.frame is None else len(self.frame),
                "findings": [f.to_dict() for f in self.findings],
                "drift": self.drift.to_dict() if self.drift else None}


def _example(series: pd.Series, bad: pd.Series) -> Any:
    value = series[bad.to_numpy(dtype=bool)].iloc[0]
    return value.item() if isinstance(value, np.generic) else value


def _domain(coerced: pd.Series, spec: ColumnSchema) -> list[Finding]:
    out = []
    n = int(coerced.notna().sum())
    if not spec.nullable and coerced.isna().any():
        missing = int(coerced.isna().sum())
        out.append(Finding("unexpected_missing", "warning",
                           f"{missing:,} missing values in a column that had none in training",
                           column=spec.name, details={"missing": missing}))
    if spec.categories is not None and spec.kind is ColumnKind.CATEGORICAL and n:
        seen = pd.Series(coerced.dropna().unique()).astype("str")
        new = sorted(set(seen) - set(spec.categories))
        if new:
            rows = int(coerced.astype("str").isin(new).sum())
            out.append(Finding("new_category", "warning",
                               f"{len(new)} value(s) never seen in training, on {rows:,} rows: "
                               + ", ".join(repr(v) for v in new[:8])
                               + (" ..." if len(new) > 8 else ""),
                               column=spec.name, details={"values": new[:50], "rows": rows}))
    if spec.kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER) and n and (
            spec.minimum is not None or spec.maximum is not None):
        arr = coerced.to_numpy(dtype="float64", na_value=np.nan)
        low = arr < spec.minimum if spec.minimum is not None else np.zeros(arr.size, bool)
        high = arr > spec.maximum if spec.maximum is not None else np.zeros(arr.size, bool)
        outside = int(low.sum() + high.sum())
        if outside:
            out.append(Finding("out_of_range", "warning",
                               f"{outside:,} values outside the trained range "
                               f"[{spec.minimum:.6g}, {spec.maximum:.6g}] "
                               f"(batch {np.nanmin(arr):.6g} .. {np.nanmax(arr):.6g})",
                               column=spec.name, details={"rows": outside}))
    return out


def _drift_kinds(schema: Schema) -> dict[str, str]:
    return {c.name: _DRIFT_KINDS[c.kind] for c in schema.features if c.kind in _DRIFT_KINDS}


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
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"unknown data environment {environment!r}",
                          expected=" or ".join(ENVIRONMENTS), found=repr(environment),
                          fix="validate training data with 'training', requests with 'serving'")
    frame = batch.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    present = set(frame.columns)
    findings: list[Finding] = []
    expected = [c for c in schema.columns
                if not (environment == "serving" and c.name == schema.target)]
    for extra in sorted(present - set(schema.names)):
        findings.append(Finding("new_column", "warning",
                                "not in the schema: ignored", column=extra))
    if environment == "serving" and schema.target in present:
        findings.append(Finding("target_in_serving", "warning",
                                "the target is not expected in serving data: ignored",
                                column=schema.target))
    out: dict[str, pd.Series] = {}
    for spec in expected:
        is_target = spec.name == schema.target
        if spec.name not in present:
            optional = spec.kind is ColumnKind.IDENTIFIER or spec.name in schema.id_columns
            check = "missing_target" if is_target else "missing_column"
            findings.append(Finding(
                check, "warning" if optional else "blocking",
                ("the target column is missing: training data needs it" if is_target else
                 "required column missing") + (" (an identifier: filled with missing values)"
                                               if optional else ""),
                column=spec.name))
            if optional:
                out[spec.name] = pd.Series(pd.NA, index=frame.index, dtype="object")
            continue
        coerced, bad = coerce_column(frame[spec.name], spec)
        if bad.any():
            findings.append(Finding(
                "type_change", "blocking",
                f"expects {_KIND_WORDS.get(spec.kind, str(spec.kind))} ({spec.kind}, dtype "
                f"{spec.dtype}) but {int(bad.sum()):,} values are not, e.g. "
                f"{_example(frame[spec.name], bad)!r}",
                column=spec.name, details={"rows": int(bad.sum()), "dtype": str(
                    frame[spec.name].dtype)}))
            continue
        if is_target and coerced.isna().all():
            findings.append(Finding("missing_target", "blocking",
                                    "the target column holds no values", column=spec.name))
            continue
        findings.extend(_domain(coerced, spec))
        out[spec.name] = coerced
    accepted = not any(f.severity == "blocking" for f in findings)
    if not accepted:
        return BatchValidation(False, tuple(by_severity(findings)), None, None)
    coerced_frame = pd.DataFrame(out, index=frame.index, columns=[s.name for s in expected])
    drift = None
    if reference is not None and len(reference):
        step = max(1, len(reference) // DRIFT_REFERENCE_ROWS)
        drift = drift_table(reference.iloc[::step], coerced_frame, _drift_kinds(schema))
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
                f"({drift.share_drifted:.0%} ≥ 50%): the batch differs from the training data"))
    return BatchValidation(True, tuple(by_severity(findings)), drift, coerced_frame)
