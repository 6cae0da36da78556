"""Batch validation against the flights schema: environments, warnings and blocking anomalies."""

from __future__ import annotations

import pytest

from mlpilot.data.schema import infer_schema
from mlpilot.data.validate import validate_batch


@pytest.fixture
def schema(flights_slice):
    return infer_schema(flights_slice.iloc[:2500], target="delayed", time_column="time_hour")


def checks(result) -> dict[tuple[str, str | None], str]:
    return {(f.check, f.column): f.severity for f in result.findings}


def test_serving_data_needs_no_target_and_a_sent_target_is_dropped(schema, flights_slice):
    rows = flights_slice.iloc[2500:2600]
    without = validate_batch(rows.drop(columns="delayed"), schema, None, environment="serving")
    assert without.accepted and "delayed" not in without.frame.columns
    sent = validate_batch(rows, schema, None, environment="serving")
    assert sent.accepted and checks(sent)[("target_in_serving", "delayed")] == "warning"
    training = validate_batch(rows.drop(columns="delayed"), schema, None)
    assert not training.accepted
    assert checks(training)[("missing_target", "delayed")] == "blocking"


def test_warnings_let_the_batch_in(schema, flights_slice):
    rows = flights_slice.iloc[2500:3000].copy()
    rows.loc[rows.index[:3], "dest"] = None
    rows["note"] = "x"
    result = validate_batch(rows, schema, flights_slice.iloc[:2500])
    found = checks(result)
    assert result.accepted
    assert found[("unexpected_missing", "dest")] == "warning"
    assert found[("new_column", "note")] == "warning"
    assert list(result.frame.columns) == list(schema.names)


def test_every_blocking_problem_is_listed_at_once(schema, flights_slice):
    rows = flights_slice.iloc[2500:2600].drop(columns=["carrier"]).copy()
    rows["hour"] = rows["hour"].astype(str).where(rows.index % 2 == 0, "noon")
    result = validate_batch(rows, schema, None)
    assert not result.accepted and result.frame is None
    assert {(f.check, f.column) for f in result.blocking} == {
        ("missing_column", "carrier"), ("type_change", "hour")}


def test_unknown_environment_is_refused(schema, flights_slice):
    with pytest.raises(ValueError, match="environment"):
        validate_batch(flights_slice.iloc[:5], schema, None, environment="staging")
