"""Fixtures for the data tests: the flights example slice and small files written per test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

FLIGHTS = Path(__file__).parents[2] / "examples" / "flights_sample.parquet"


@pytest.fixture(scope="session")
def flights() -> pd.DataFrame:
    """50k New York flights of early 2013; target `delayed`, time column `time_hour`."""
    return pd.read_parquet(FLIGHTS)


@pytest.fixture
def flights_small(flights: pd.DataFrame) -> pd.DataFrame:
    """The first 2,000 flights, enough for behaviour that depends on real values."""
    return flights.iloc[:2000].reset_index(drop=True)


@pytest.fixture
def write_text(tmp_path: Path):
    """Write text or bytes to a file in the test's directory and return its path."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding=encoding)
        return path

    return _write
