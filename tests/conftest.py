"""Shared fixtures: real flights data from examples/, isolated workspaces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FLIGHTS = EXAMPLES / "flights_sample.parquet"


@pytest.fixture(scope="session")
def flights_frame() -> pd.DataFrame:
    """The bundled flights sample (50k rows, NYC departures Jan-Mar 2013)."""
    return pd.read_parquet(FLIGHTS)


@pytest.fixture(scope="session")
def flights_slice(flights_frame) -> pd.DataFrame:
    """Every 10th flight: 5,000 rows spanning the whole quarter, in time order."""
    return flights_frame.iloc[::10].reset_index(drop=True)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty workspace folder, set as MLPILOT_HOME for the CLI."""
    path = tmp_path / "ws"
    monkeypatch.setenv("MLPILOT_HOME", str(path))
    monkeypatch.delenv("MLPILOT_DB", raising=False)
    monkeypatch.setenv("MLPILOT_ACTOR", "tester")
    return path
