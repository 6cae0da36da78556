"""The quality report on the flights data, and on flights with planted problems."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlpilot.data.quality import QualityReport, quality_report
from mlpilot.data.schema import infer_schema


def checks(report: QualityReport) -> dict[tuple[str, str | None], str]:
    return {(f.check, f.column): f.message for f in report.findings}


@pytest.fixture
def flights_with_problems(flights_slice) -> pd.DataFrame:
    """5,000 flights with a leak, a copy of the target, misspellings, duplicates, conflicts."""
    df = flights_slice.copy()
    rng = np.random.default_rng(0)
    df["arr_delay"] = np.where(df["delayed"] == 1, rng.uniform(16, 200, len(df)),
                               rng.uniform(-30, 14, len(df)))
    df["delayed_copy"] = df["delayed"].astype(str)
    df["street"] = rng.choice(["Main Street", "Main St", "main street ", "Elm Road", "Bostn",
                               "Boston"], len(df))
    df["ingested_at"] = df["time_hour"] + pd.to_timedelta(rng.uniform(0, 48, len(df)), "h")
    df["row_id"] = np.arange(len(df))
    dupes = df.iloc[:20].copy()
    conflicts = df.iloc[20:30].copy()
    conflicts["delayed"] = 1 - conflicts["delayed"]
    return pd.concat([df, dupes, conflicts], ignore_index=True)


def test_clean_flights_report_only_the_constant_year(flights_slice):
    schema = infer_schema(flights_slice, target="delayed", time_column="time_hour")
    report = quality_report(flights_slice, schema, task="binary")
    warnings = {(f.check, f.column) for f in report.findings if f.severity == "warning"}
    assert warnings == {("constant", "year")}
    assert ("class_imbalance", "delayed") in checks(report)
    assert QualityReport.from_dict(report.to_dict()) == report


def test_planted_problems_are_each_found(flights_with_problems):
    df = flights_with_problems
    schema = replace(infer_schema(df, target="delayed", time_column="time_hour",
                                  id_columns=("row_id",)), ingestion_time_column="ingested_at")
    found = checks(quality_report(df, schema, task="binary"))
    assert "20 rows" in found[("duplicates", None)]
    assert "different values of 'delayed'" in found[("conflicting_labels", "delayed")]
    assert "held-out skill" in found[("leakage", "arr_delay")]
    assert "equals the target" in found[("leakage", "delayed_copy")]
    spelling = found[("inconsistent_spelling", "street")]
    assert "'Main St'" in spelling and "'Bostn'" in spelling
    assert "left out of the features" in found[("identifier", "row_id")]
    assert "ingestion lag" in found[("timeliness", "ingested_at")]
    assert ("leakage", "distance") not in found


def test_missing_values_and_outliers(flights_slice):
    df = flights_slice.copy()
    df.loc[df.index[:3000], "dest"] = None
    df.loc[df.index[:5], "distance"] = 250_000
    schema = infer_schema(df, target="delayed")
    report = quality_report(df, schema, task="binary")
    missing = next(f for f in report.findings if f.check == "missing")
    assert missing.column == "dest" and missing.severity == "warning"
    assert "60.0%" in missing.message
    assert any(f.check == "outliers" and "2.5e+05" in f.message
               for f in report.findings)


def test_regression_leak_is_found(flights_slice):
    df = flights_slice[["distance", "hour", "origin"]].copy()
    df["air_time"] = df["distance"] / 8.0 + np.random.default_rng(0).normal(0, 1, len(df))
    schema = infer_schema(df, target="air_time")
    found = checks(quality_report(df, schema, task="regression"))
    assert ("leakage", "distance") in found and ("leakage", "origin") not in found
