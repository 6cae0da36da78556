"""After the split: compare train with validation and with test, feature by feature.

A time-ordered split is expected to show some difference (the future is not the past); a
random or stratified split should not. Either way a person should see it before trusting the
test score.

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import infer_schema
    >>> df = pd.DataFrame({"x": range(300), "c": ["a", "b", "c"] * 100, "y": [0, 1] * 150})
    >>> schema = infer_schema(df, target="y")
    >>> report = compare_split(df, schema, {"train": range(0, 200), "valid": range(200, 250),
    ...                                     "test": range(250, 300)})
    >>> [(f.column, f.details["part"]) for f in report["findings"]]
    [('x', 'valid'), ('x', 'test')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mlpilot.data import _values as values
from mlpilot.data.drift import drift_table
from mlpilot.data.findings import Finding
from mlpilot.data.schema import ColumnKind, Schema
from mlpilot.data.validate import _drift_kinds


def compare_split(df: pd.DataFrame, schema: Schema,
                  parts: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """Drift of each feature of ``valid`` and ``test`` against ``train`` (row positions).

    Returns:
        ``{"findings": [Finding...], "parts": {"valid": TableDrift dict, "test": ...}}``; a
        finding per feature whose distribution differs significantly from training.
    """
    kinds = _drift_kinds(schema)
    dates = {}
    for spec in schema.features:  # dates are compared as numbers here: same time span?
        if spec.kind is ColumnKind.DATETIME:
            kinds[spec.name] = "numeric"
            # a CSV keeps them as text: read as the schema does (unreadable ones left out)
            dates[spec.name] = values.coerce_datetime(df[spec.name])[0]
    if dates:
        df = df.assign(**dates)
    train = df.iloc[list(parts["train"])]
    findings: list[Finding] = []
    summary: dict[str, Any] = {}
    for part in ("valid", "test"):
        if part not in parts or not len(parts[part]):
            continue
        drift = drift_table(train, df.iloc[list(parts[part])], kinds)
        summary[part] = drift.to_dict()
        for col in drift.columns:
            if col.drifted:
                findings.append(Finding(
                    "split_difference", "warning",
                    f"{part} differs from train ({col.test} {col.statistic} {col.score:.4g}, "
                    f"threshold {col.threshold})",
                    column=col.column, details={"part": part, **col.to_dict()}))
    return {"findings": findings, "parts": summary}
