"""`project create` streams: the stored bytes, schema and profile of the in-memory path, and
nothing left behind when it refuses a table."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import DataError
from mlpilot.data import canonical
from mlpilot.data.canonical import table_to_parquet_bytes
from mlpilot.data.profile import profile_table
from mlpilot.data.schema import infer_schema
from mlpilot.data.sources import parquet_bytes_to_table, read_table
from mlpilot.pipeline import ingest
from mlpilot.pipeline.audit_check import verify_workspace
from mlpilot.pipeline.data_quality import dataset_report
from mlpilot.pipeline.workspace import Workspace
from mlpilot.store import quality_records
from mlpilot.store import repositories as repo


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 700 rows and row groups of 2,000, so 5,000 rows cross many of both."""
    monkeypatch.setattr(ingest, "CHUNK_ROWS", 700)
    monkeypatch.setattr(canonical, "ROW_GROUP_ROWS", 2000)


@pytest.fixture
def short_sample(small_chunks, monkeypatch):
    """A schema sample of at most 1,000 rows: 5,000 rows are sampled, not held whole."""
    monkeypatch.setattr(ingest, "SAMPLE_ROWS", 1000)


@pytest.fixture
def gappy_flights(flights_slice) -> pd.DataFrame:
    """The 5,000 flights with gaps whole chunks long: `distance` (integers) has no value in
    rows 1,400-2,099 and `tailnum` (text) none in rows 2,800-4,199, so those chunks read as
    float NaN."""
    frame = flights_slice.copy()
    frame["distance"] = frame["distance"].astype("float64")
    frame.loc[1400:2099, "distance"] = np.nan
    frame.loc[2800:4199, "tailnum"] = None
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def in_memory_sha(path: Path) -> str:
    """What project creation stored before it streamed: the canonical bytes of the whole
    table read in memory."""
    return hashlib.sha256(table_to_parquet_bytes(read_table(path))).hexdigest()


def stored_reports(ws: Workspace) -> int:
    with ws.store.transaction() as session:
        project = repo.get_project(session, "flights")
        dataset = repo.latest_dataset_version(session, project)
        return int(quality_records.find_quality_report(session, dataset, 1) is not None)


def create_flights(tmp_path: Path, frame: pd.DataFrame, suffix: str):
    """(workspace, project, the file read whole, its path): `flights` created from the file."""
    path = write(frame, tmp_path / f"flights{suffix}")
    ws = Workspace(tmp_path / "ws")
    project = ws.create_project("flights", path, target="delayed", time_column="time_hour")
    return ws, project, read_table(path), path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_multi_chunk_table_is_stored_as_the_in_memory_path_stored_it(
        tmp_path, gappy_flights, small_chunks, suffix):
    ws, project, whole, path = create_flights(tmp_path, gappy_flights, suffix)
    dataset = project.dataset()
    assert dataset["sha256"] == in_memory_sha(path)
    assert (dataset["rows"], dataset["columns"]) == (5000, 15)
    stored = parquet_bytes_to_table(ws.store.objects.get(dataset["sha256"]))
    assert str(stored["distance"].dtype) == "float64" and stored["tailnum"].isna().sum() == 1400
    # 5,000 rows are within the sample: schema, profile and report from the whole table
    assert project.schema == infer_schema(whole, target="delayed", time_column="time_hour")
    profile, exact = project.profile(), profile_table(whole)
    assert profile["columns"] == exact["columns"] and profile["n_rows"] == exact["n_rows"]
    # text columns are held in chunks of the file's reading, whole or in 700-row chunks
    assert profile["memory_bytes"] == pytest.approx(exact["memory_bytes"], rel=0.01)
    assert stored_reports(ws) == 1
    assert verify_workspace(ws.store).ok
    assert not list((tmp_path / "ws").glob(".create-*"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_longer_than_the_sample_keeps_its_bytes_and_its_schema(
        tmp_path, gappy_flights, short_sample, suffix):
    ws, project, whole, path = create_flights(tmp_path, gappy_flights, suffix)
    assert project.dataset()["sha256"] == in_memory_sha(path)
    # kinds from 1,000 sampled rows, domains (missing, range, categories) from all 5,000
    expected = infer_schema(whole, target="delayed", time_column="time_hour")
    assert project.schema == expected
    assert project.schema.column("distance").nullable  # the gap is not in every sample
    assert project.schema.column("carrier").categories == tuple(
        sorted(whole["carrier"].dropna().unique()))
    # the profile was streamed: exact counts and extremes, quantiles of up to 100,000 values
    profile, exact = project.profile(), profile_table(whole)
    for name in ("distance", "carrier", "tailnum", "time_hour", "delayed"):
        got, want = profile["columns"][name], exact["columns"][name]
        assert got["dtype"] == want["dtype"], name
        if "top" in want:  # ties may come in another order
            assert [t["count"] for t in got["top"]] == [t["count"] for t in want["top"]]
        for key in ("missing", "n_unique", "mean", "std", "min", "max", "p50"):
            if key in want:
                assert got[key] == pytest.approx(want[key]), (name, key)
    # the quality report waits for its first request
    assert stored_reports(ws) == 0
    report = dataset_report(ws.store, "flights")
    assert report["n_rows"] == 5000 and stored_reports(ws) == 1


def test_a_dataframe_is_created_in_chunks_with_the_same_bytes(tmp_path, flights_slice,
                                                              short_sample):
    frame = flights_slice.set_index(flights_slice.index + 100)  # the index is not stored
    frame.columns = list(frame.columns)
    ws = Workspace(tmp_path / "ws")
    project = ws.create_project("flights", frame, target="delayed")
    expected = table_to_parquet_bytes(flights_slice)
    assert project.dataset()["sha256"] == hashlib.sha256(expected).hexdigest()
    assert project.dataset()["source"] == "<DataFrame>"


def test_a_sampled_id_column_with_a_repeat_outside_the_sample_is_not_an_identifier(
        tmp_path, flights_slice, short_sample):
    frame = flights_slice.copy()
    frame["row_id"] = np.arange(len(frame))
    frame.loc[4999, "row_id"] = 1  # row 4,999 is not in the every-8th-row sample
    ws = Workspace(tmp_path / "ws")
    project = ws.create_project("flights", write(frame, tmp_path / "f.parquet"), "delayed")
    assert str(project.schema.column("row_id").kind) == "integer"
    unique = frame.assign(row_id=np.arange(len(frame)))
    other = Workspace(tmp_path / "ws2").create_project(
        "flights", write(unique, tmp_path / "u.parquet"), "delayed")
    assert str(other.schema.column("row_id").kind) == "identifier"


def assert_nothing_written(home: Path) -> None:
    ws = Workspace(home)
    assert ws.projects() == [] and ws.events() == []
    objects = home / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))
    assert not list(home.glob(".create-*"))


def refused(home: Path, path: Path, match: str, **options: object) -> None:
    with pytest.raises(DataError, match=match):
        Workspace(home).create_project("flights", path, **{"target": "delayed", **options})
    assert_nothing_written(home)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_refusals_leave_nothing_behind(tmp_path, flights_slice, short_sample, suffix):
    home = tmp_path / "ws"
    path = write(flights_slice, tmp_path / f"flights{suffix}")
    refused(home, path, r"target column 'dlayed' is not a column.*delayed",
            target="dlayed")
    refused(home, path, r"time column 'when' is not a column", time_column="when")
    refused(home, path, r"time column 'carrier' does not hold dates",
            time_column="carrier")
    no_labels = flights_slice.assign(delayed=np.nan)
    refused(home, write(no_labels, tmp_path / f"nolabels{suffix}"),
            r"target column 'delayed' has no values: all 5000 rows are missing")
    one_class = flights_slice.assign(delayed=1)
    refused(home, write(one_class, tmp_path / f"oneclass{suffix}"),
            r"classification needs at least two classes; 'delayed' has 1")
    rare = flights_slice.copy()
    rare.loc[4998:, "delayed"] = 7  # the third class only in the last chunk, two rows
    refused(home, write(rare, tmp_path / f"rare{suffix}"), r"class 7 .* too few rows",
            task="multiclass")


def test_a_malformed_row_in_a_late_chunk_leaves_nothing_behind(tmp_path, flights_slice,
                                                               small_chunks):
    path = write(flights_slice, tmp_path / "flights.csv")
    lines = path.read_text().splitlines()
    lines[4500] += ",surplus"
    path.write_text("\n".join(lines) + "\n")
    refused(tmp_path / "ws", path, r"malformed row at line 4501")


def test_a_csv_column_of_numbers_then_text_is_text_as_read_whole(tmp_path, flights_slice,
                                                                  small_chunks):
    frame = flights_slice.copy()
    frame["gate"] = [f"{i % 40:02d}" for i in range(len(frame))]  # "07": text, not 7
    frame.loc[4200:, "gate"] = "B" + frame.loc[4200:, "gate"]  # letters from chunk 7 on
    path = write(frame, tmp_path / "flights.csv")
    ws = Workspace(tmp_path / "ws")
    project = ws.create_project("flights", path, target="delayed")
    assert project.dataset()["sha256"] == in_memory_sha(path)
    stored = parquet_bytes_to_table(ws.store.objects.get(project.dataset()["sha256"]))
    assert stored["gate"].iloc[7] == "07" and stored["gate"].iloc[4207] == "B07"
    assert str(project.schema.column("gate").kind) == "categorical"
    assert not list((tmp_path / "ws").glob(".create-*"))


def test_a_dataframe_column_of_numbers_then_text_is_refused_by_name(tmp_path, flights_slice,
                                                                    small_chunks):
    frame = flights_slice.copy()
    frame["gate"] = pd.Series([i % 40 for i in range(len(frame))], dtype="object")
    frame.loc[4200:, "gate"] = "B"
    with pytest.raises(DataError, match=r"'gate' holds values of different types"):
        Workspace(tmp_path / "ws").create_project("flights", frame, target="delayed")
    assert_nothing_written(tmp_path / "ws")
