"""Fixtures: slices of the real flights table with a hand-written schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.config import Task
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema

FLIGHTS = Path(__file__).resolve().parents[2] / "examples" / "flights_sample.parquet"

KINDS = {
    "month": ColumnKind.INTEGER,
    "day": ColumnKind.INTEGER,
    "sched_dep_time": ColumnKind.INTEGER,
    "carrier": ColumnKind.CATEGORICAL,
    "tailnum": ColumnKind.CATEGORICAL,
    "origin": ColumnKind.CATEGORICAL,
    "dest": ColumnKind.CATEGORICAL,
    "distance": ColumnKind.INTEGER,
    "hour": ColumnKind.INTEGER,
    "time_hour": ColumnKind.DATETIME,
    "delayed": ColumnKind.INTEGER,
}


def flights_schema(target: str) -> Schema:
    """The flights columns we use, with ``target`` as the target."""
    dtypes = {ColumnKind.INTEGER: "int64", ColumnKind.CATEGORICAL: "str",
              ColumnKind.DATETIME: "datetime64[us]"}
    return Schema(
        columns=tuple(ColumnSchema(name, kind, dtypes[kind], nullable=False)
                      for name, kind in KINDS.items()),
        target=target,
        time_column="time_hour",
    )


@pytest.fixture(scope="session")
def flights() -> pd.DataFrame:
    """6,000 flights sampled (fixed seed) from the example table."""
    table = pd.read_parquet(FLIGHTS, columns=list(KINDS))
    return table.sample(n=6000, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def delay_data(flights: pd.DataFrame) -> dict:
    """Binary problem: is the flight delayed? 4,000 train rows, 2,000 valid rows."""
    schema = flights_schema("delayed")
    features = list(schema.feature_columns)
    return {
        "schema": schema, "task": Task.BINARY, "classes": [0, 1],
        "train_X": flights[features].iloc[:4000], "train_y": flights["delayed"].to_numpy()[:4000],
        "valid_X": flights[features].iloc[4000:], "valid_y": flights["delayed"].to_numpy()[4000:],
    }


@pytest.fixture(scope="session")
def origin_data(flights: pd.DataFrame) -> dict:
    """Multiclass problem: which of the three New York airports did the flight leave from?"""
    schema = flights_schema("origin")
    features = list(schema.feature_columns)
    classes = sorted(flights["origin"].unique().tolist())
    y = flights["origin"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    return {
        "schema": schema, "task": Task.MULTICLASS, "classes": classes,
        "train_X": flights[features].iloc[:4000], "train_y": y[:4000],
        "valid_X": flights[features].iloc[4000:], "valid_y": y[4000:],
    }


@pytest.fixture(scope="session")
def distance_data(flights: pd.DataFrame) -> dict:
    """Regression problem: the flight distance in miles."""
    schema = flights_schema("distance")
    features = list(schema.feature_columns)
    y = flights["distance"].to_numpy(dtype=np.float64)
    return {
        "schema": schema, "task": Task.REGRESSION, "classes": None,
        "train_X": flights[features].iloc[:4000], "train_y": y[:4000],
        "valid_X": flights[features].iloc[4000:], "valid_y": y[4000:],
    }
