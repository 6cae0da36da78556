"""Fixtures: problems on a slice of the real flights table (delay, origin, distance) and
their scorers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

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


class RocAuc:
    """Area under the ROC curve of the positive class."""

    name = "roc_auc"
    greater_is_better = True

    def __call__(self, y_true: np.ndarray, prediction: np.ndarray) -> float:
        return float(roc_auc_score(y_true, prediction[:, 1]))


class LogLoss:
    """Multiclass log loss (lower is better)."""

    name = "log_loss"
    greater_is_better = False

    def __call__(self, y_true: np.ndarray, prediction: np.ndarray) -> float:
        picked = prediction[np.arange(len(y_true)), y_true]
        return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


class Rmse:
    """Root mean squared error (lower is better)."""

    name = "rmse"
    greater_is_better = False

    def __call__(self, y_true: np.ndarray, prediction: np.ndarray) -> float:
        return float(np.sqrt(np.mean((np.asarray(y_true) - prediction) ** 2)))


@pytest.fixture(scope="session")
def flights_schema() -> Schema:
    dtypes = {ColumnKind.INTEGER: "int64", ColumnKind.CATEGORICAL: "str",
              ColumnKind.DATETIME: "datetime64[us]"}
    return Schema(columns=tuple(ColumnSchema(n, k, dtypes[k], False) for n, k in KINDS.items()),
                  target="delayed", time_column="time_hour")


@pytest.fixture(scope="session")
def flights() -> pd.DataFrame:
    table = pd.read_parquet(FLIGHTS, columns=list(KINDS))
    return table.sample(n=5000, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="session")
def delay_problem(flights, flights_schema) -> dict:
    """Is the flight delayed? 3,500 train rows and 1,500 validation rows."""
    features = list(flights_schema.feature_columns)
    y = flights["delayed"].to_numpy()
    return {
        "train_X": flights[features].iloc[:3500], "train_y": y[:3500],
        "valid_X": flights[features].iloc[3500:], "valid_y": y[3500:],
        "schema": flights_schema, "task": Task.BINARY, "classes": [0, 1],
        "scorer": RocAuc(),
    }


@pytest.fixture(scope="session")
def origin_problem(flights, flights_schema) -> dict:
    """Which airport did the flight leave from? (three classes, scored by log loss)"""
    schema = Schema(columns=flights_schema.columns, target="origin", time_column="time_hour")
    features = list(schema.feature_columns)
    classes = sorted(flights["origin"].unique().tolist())
    y = flights["origin"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    return {
        "train_X": flights[features].iloc[:3500], "train_y": y[:3500],
        "valid_X": flights[features].iloc[3500:], "valid_y": y[3500:],
        "schema": schema, "task": Task.MULTICLASS, "classes": classes, "scorer": LogLoss(),
    }


@pytest.fixture(scope="session")
def distance_problem(flights, flights_schema) -> dict:
    """How far does the flight go? (regression, scored by RMSE)"""
    schema = Schema(columns=flights_schema.columns, target="distance", time_column="time_hour")
    features = list(schema.feature_columns)
    y = flights["distance"].to_numpy(dtype=np.float64)
    return {
        "train_X": flights[features].iloc[:3500], "train_y": y[:3500],
        "valid_X": flights[features].iloc[3500:], "valid_y": y[3500:],
        "schema": schema, "task": Task.REGRESSION, "classes": None, "scorer": Rmse(),
    }
