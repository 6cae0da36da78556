"""Profiles: the right numbers, JSON-safe, fast on a million rows."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from mlpilot.data.profile import profile_table


def test_flights_profile_matches_pandas(flights):
    profile = profile_table(flights)
    assert profile["n_rows"] == 50_000 and profile["n_columns"] == 15
    assert profile["memory_bytes"] > 0
    distance = profile["columns"]["distance"]
    assert distance["kind"] == "numeric"
    assert distance["mean"] == pytest_approx(flights["distance"].mean())
    assert distance["p50"] == float(flights["distance"].median())
    assert distance["p99"] == float(flights["distance"].quantile(0.99))
    carrier = profile["columns"]["carrier"]
    top = flights["carrier"].value_counts()
    assert carrier["top"][0] == {"value": top.index[0], "count": int(top.iloc[0])}
    assert len(carrier["top"]) == 10 and carrier["n_unique"] == top.size
    hours = profile["columns"]["time_hour"]
    assert hours["min"] == "2013-01-01T05:00:00"
    assert hours["max"] == flights["time_hour"].max().isoformat()


def pytest_approx(x: float) -> object:
    import pytest

    return pytest.approx(float(x), rel=1e-12)


def test_missing_and_infinite_values_are_json_safe(flights_small):
    df = flights_small.astype({"distance": "float64"}).assign(empty=np.nan)
    df.loc[:9, "distance"] = np.nan
    df.loc[10, "distance"] = np.inf
    profile = profile_table(df)
    text = json.dumps(profile, allow_nan=False)  # raises on NaN or infinity
    assert json.loads(text)["columns"]["empty"]["mean"] is None
    assert profile["columns"]["distance"]["missing"] == 10
    assert profile["columns"]["distance"]["missing_fraction"] == 10 / 2000


def test_a_million_rows_profile_quickly(flights):
    big = pd.concat([flights] * 20, ignore_index=True)
    start = time.perf_counter()
    profile = profile_table(big)
    assert time.perf_counter() - start < 5
    assert profile["n_rows"] == 1_000_000
