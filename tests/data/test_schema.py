"""Schema inference on the flights table, and checking prediction input against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import DataError, SchemaError
from mlpilot.data.schema import (
    ColumnKind,
    Schema,
    infer_schema,
    validate_prediction_input,
)
from mlpilot.data.schema_yaml import schema_from_yaml, schema_to_yaml


@pytest.fixture
def flights_schema(flights_small) -> Schema:
    return infer_schema(flights_small, target="delayed", time_column="time_hour")


@pytest.fixture
def prediction_batch(flights) -> pd.DataFrame:
    """Twenty later flights as a client would send them: no target."""
    return flights.iloc[45_000:45_020].drop(columns=["delayed"]).reset_index(drop=True)


def test_flights_columns_get_their_kinds(flights_schema):
    kinds = {c.name: c.kind for c in flights_schema.columns}
    assert kinds["distance"] is ColumnKind.INTEGER
    assert kinds["carrier"] is ColumnKind.CATEGORICAL
    assert kinds["time_hour"] is ColumnKind.DATETIME
    assert kinds["delayed"] is ColumnKind.INTEGER
    assert flights_schema.time_column == "time_hour"
    assert "delayed" not in flights_schema.feature_columns


def test_numeric_bounds_and_categories_are_recorded(flights_small, flights_schema):
    distance = flights_schema.column("distance")
    assert distance.minimum == float(flights_small["distance"].min())
    assert distance.maximum == float(flights_small["distance"].max())
    origin = flights_schema.column("origin")
    assert origin.categories == ("EWR", "JFK", "LGA")
    assert origin.nullable is False
    assert origin.dtype == str(flights_small["origin"].dtype)


def test_schema_round_trips_through_json(flights_schema):
    assert Schema.from_dict(flights_schema.to_dict()) == flights_schema
    assert Schema.from_dict(flights_schema.to_dict()).hash == flights_schema.hash


def test_date_strings_are_datetime(flights_small):
    df = flights_small.assign(time_hour=flights_small["time_hour"].astype(str))
    assert df["time_hour"].iloc[0] == "2013-01-01 05:00:00"
    schema = infer_schema(df, target="delayed", time_column="time_hour")
    assert schema.column("time_hour").kind is ColumnKind.DATETIME


def test_identifiers_text_booleans_and_floats():
    n = 60
    df = pd.DataFrame({
        "booking_id": np.arange(1000, 1000 + n),
        "code": [f"B{i:05d}" for i in range(n)],
        "review": [f"review number {i}: " + "the flight was late and the crew was kind " * 2
                   for i in range(n)],
        "vip": [i % 3 == 0 for i in range(n)],
        "fare": np.linspace(10.0, 99.5, n),
        "seats": np.arange(n) % 4,
        "y": [0, 1] * (n // 2),
    })
    df.loc[3, "fare"] = np.nan
    schema = infer_schema(df, target="y")
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"booking_id": ColumnKind.IDENTIFIER, "code": ColumnKind.IDENTIFIER,
                     "review": ColumnKind.TEXT, "vip": ColumnKind.BOOLEAN,
                     "fare": ColumnKind.NUMERIC, "seats": ColumnKind.INTEGER,
                     "y": ColumnKind.INTEGER}
    assert schema.column("fare").nullable is True
    assert schema.feature_columns == ("review", "vip", "fare", "seats")


def test_small_tables_have_no_identifiers(flights_small):
    schema = infer_schema(flights_small.iloc[:20], target="delayed")
    assert schema.column("tailnum").kind is ColumnKind.CATEGORICAL


def test_many_categories_are_not_listed(flights):
    df = flights[["tailnum", "delayed"]]
    assert df["tailnum"].nunique() > 1000
    assert infer_schema(df, target="delayed").column("tailnum").categories is None


def test_declared_id_columns_are_identifiers(flights_small):
    schema = infer_schema(flights_small, target="delayed", id_columns=("flight",))
    assert schema.column("flight").kind is ColumnKind.IDENTIFIER
    assert "flight" not in schema.feature_columns


def test_unknown_target_suggests_the_closest_column(flights_small):
    with pytest.raises(DataError, match=r"target column 'dlayed'.*did you mean 'delayed'"):
        infer_schema(flights_small, target="dlayed")


def test_unknown_time_column(flights_small):
    with pytest.raises(DataError, match=r"time column 'time_hr'.*did you mean 'time_hour'"):
        infer_schema(flights_small, target="delayed", time_column="time_hr")


def test_time_column_must_hold_dates(flights_small):
    with pytest.raises(DataError, match=r"time column 'carrier' does not hold dates"):
        infer_schema(flights_small, target="delayed", time_column="carrier")
    with pytest.raises(DataError, match=r"integers that count periods"):
        infer_schema(flights_small.assign(hours=flights_small["hour"] + 0.5), target="delayed",
                     time_column="hours")


def test_an_integer_period_can_be_the_time_column(flights_small):
    schema = infer_schema(flights_small, target="delayed", time_column="month")
    assert schema.time_column == "month" and str(schema.column("month").kind) == "integer"
    assert "month" in schema.feature_columns  # a period stays a feature, as a number


def test_prediction_input_is_the_features_in_training_order(flights_schema, prediction_batch):
    shuffled = prediction_batch[list(reversed(prediction_batch.columns))]
    out = validate_prediction_input(shuffled, flights_schema)
    assert tuple(out.columns) == flights_schema.feature_columns
    assert out.equals(prediction_batch[list(flights_schema.feature_columns)])


def test_target_and_extra_columns_are_dropped(flights_schema, flights):
    batch = flights.iloc[:5].assign(request_id=["a", "b", "c", "d", "e"])
    out = validate_prediction_input(batch, flights_schema)
    assert "delayed" not in out.columns and "request_id" not in out.columns


def test_unseen_categories_pass_through(flights_schema, prediction_batch):
    batch = prediction_batch.assign(carrier="ZZ")
    assert set(validate_prediction_input(batch, flights_schema)["carrier"]) == {"ZZ"}


def test_values_sent_as_strings_are_coerced(flights_schema, prediction_batch):
    as_text = prediction_batch.astype(str)
    out = validate_prediction_input(as_text, flights_schema)
    expected = validate_prediction_input(prediction_batch, flights_schema)
    pd.testing.assert_frame_equal(out, expected)


def test_missing_columns_are_all_named(flights_schema, prediction_batch):
    batch = prediction_batch.drop(columns=["carrier", "dest"])
    with pytest.raises(SchemaError, match=r"missing 'carrier', 'dest'.*send every training"):
        validate_prediction_input(batch, flights_schema)


def test_wrong_types_are_named_with_an_example(flights_schema, prediction_batch):
    batch = prediction_batch.astype({"distance": object, "time_hour": object})
    batch.loc[2, "distance"] = "far"
    batch.loc[4, "time_hour"] = "yesterday"
    with pytest.raises(SchemaError) as info:
        validate_prediction_input(batch.drop(columns=["dest"]), flights_schema)
    message = str(info.value)
    assert "missing 'dest'" in message
    assert "column 'distance' expects whole numbers but row 2 has 'far'" in message
    assert "column 'time_hour' expects dates or times but row 4 has 'yesterday'" in message


def test_fractional_value_for_an_integer_column(flights_schema, prediction_batch):
    batch = prediction_batch.astype({"hour": "float64"})
    batch.loc[0, "hour"] = 5.5
    with pytest.raises(SchemaError, match=r"'hour' expects whole numbers but row 0 has 5.5"):
        validate_prediction_input(batch, flights_schema)


def test_booleans_from_words_and_digits():
    train = pd.DataFrame({"vip": [True, False, True, False], "y": [1.0, 2.0, 3.0, 4.5]})
    schema = infer_schema(train, target="y")
    out = validate_prediction_input(pd.DataFrame({"vip": ["true", "0", "Yes", "1"]}), schema)
    assert out["vip"].tolist() == [True, False, True, True]
    assert out["vip"].dtype == bool
    with pytest.raises(SchemaError, match=r"'vip' expects booleans .* 'maybe'"):
        validate_prediction_input(pd.DataFrame({"vip": ["true", "maybe"]}), schema)


def test_missing_values_stay_missing(flights_schema, prediction_batch):
    batch = prediction_batch.astype({"carrier": object, "distance": "float64"})
    batch.loc[0, "carrier"] = None
    batch.loc[1, "distance"] = np.nan
    out = validate_prediction_input(batch, flights_schema)
    assert pd.isna(out.loc[0, "carrier"]) and pd.isna(out.loc[1, "distance"])


def test_empty_input_is_refused(flights_schema, prediction_batch):
    with pytest.raises(SchemaError, match=r"no rows to predict"):
        validate_prediction_input(prediction_batch.iloc[:0], flights_schema)


def test_a_schema_edit_may_name_a_period_as_time_column_but_not_as_ingestion_time(
        flights_small):
    schema = infer_schema(flights_small, target="delayed", time_column="time_hour")
    text = schema_to_yaml(schema)
    edited = schema_from_yaml(text.replace("time_column: time_hour", "time_column: month"),
                              schema)
    assert edited.time_column == "month"
    with pytest.raises(SchemaError, match=r"time_column 'carrier' is not a datetime or "
                                          r"integer column"):
        schema_from_yaml(text.replace("time_column: time_hour", "time_column: carrier"), schema)
    with pytest.raises(SchemaError, match=r"ingestion_time_column 'month' is not a datetime "
                                          r"column"):
        schema_from_yaml(text.replace("ingestion_time_column: null",
                                      "ingestion_time_column: month"), schema)
