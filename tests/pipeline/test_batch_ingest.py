"""`data ingest` streams: the new version's bytes, determinism, and nothing left on failure."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.core.errors import ConflictError, DataError
from mlpilot.data import append as append_module
from mlpilot.data import canonical
from mlpilot.data.profile import profile_table
from mlpilot.data.sources import parquet_bytes_to_table, table_to_parquet_bytes
from mlpilot.data.validate import validate_batch
from mlpilot.pipeline import batch_ingest
from mlpilot.pipeline.audit_check import verify_workspace
from mlpilot.pipeline.batch_ingest import ingest_batch
from mlpilot.pipeline.data_quality import dataset_report
from mlpilot.pipeline.workspace import Workspace


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 700 rows, pieces of 512 and row groups of 2,000, so 5,000 rows cross many."""
    monkeypatch.setattr(batch_ingest, "CHUNK_ROWS", 700)
    monkeypatch.setattr(append_module, "PIECE_ROWS", 512)
    monkeypatch.setattr(canonical, "ROW_GROUP_ROWS", 2000)


def new_workspace(home: Path, flights_slice: pd.DataFrame) -> Workspace:
    ws = Workspace(home)
    ws.create_project("flights", flights_slice.iloc[:3000], target="delayed",
                      time_column="time_hour")
    return ws


@pytest.fixture
def march_csv(tmp_path, flights_slice) -> Path:
    """The last 2,000 flights of the slice, a few with no distance (an integer column)."""
    batch = flights_slice.iloc[3000:].copy()
    batch["distance"] = batch["distance"].astype("float64")
    batch.loc[batch.index[[5, 1500]], "distance"] = None
    path = tmp_path / "march.csv"
    batch.to_csv(path, index=False)
    return path


def scratch_left(home: Path) -> list[Path]:
    return list(home.glob(".ingest-*"))


def test_the_streamed_version_has_the_bytes_of_the_in_memory_append(
        tmp_path, flights_slice, march_csv, small_chunks):
    ws = new_workspace(tmp_path / "ws", flights_slice)
    store = ws.store
    parent = parquet_bytes_to_table(store.objects.get(ws.project("flights").dataset()["sha256"]))
    outcome = ingest_batch(store, "flights", march_csv)
    assert outcome.accepted and outcome.dataset_version == 2 and outcome.rows == 2000
    # what ingest computed in memory before it streamed
    coerced = validate_batch(pd.read_csv(march_csv), ws.project("flights").schema, parent).frame
    batch = coerced.reindex(columns=parent.columns)
    for name in parent.columns:
        with contextlib.suppress(TypeError, ValueError):
            batch[name] = batch[name].astype(parent[name].dtype)
    expected = table_to_parquet_bytes(pd.concat([parent, batch], ignore_index=True))
    stored = store.objects.get(ws.project("flights").dataset()["sha256"])
    assert stored == expected
    table = parquet_bytes_to_table(stored)
    assert str(table["distance"].dtype) == "float64" and table["distance"].isna().sum() == 2
    # the profile was computed while streaming: the in-memory profile's numbers
    profile, whole = ws.project("flights").profile(), profile_table(table)
    assert profile["n_rows"] == whole["n_rows"] == 5000
    for name in ("distance", "carrier", "time_hour", "delayed"):
        got, want = profile["columns"][name], whole["columns"][name]
        assert got["dtype"] == want["dtype"] and got.get("top") == want.get("top"), name
        for key in ("missing", "n_unique", "mean", "std", "min", "max", "p50", "p99"):
            if key in want:
                assert got[key] == pytest.approx(want[key]), (name, key)
    # the quality report of the new version is computed when first asked for
    assert dataset_report(store, "flights", 2)["n_rows"] == 5000
    assert scratch_left(tmp_path / "ws") == []


def test_the_same_batch_gives_the_same_version_hash(tmp_path, flights_slice, march_csv):
    hashes = set()
    for name in ("a", "b"):
        ws = new_workspace(tmp_path / name, flights_slice)
        ingest_batch(ws.store, "flights", march_csv)
        hashes.add(ws.project("flights").dataset()["sha256"])
    assert len(hashes) == 1


def test_a_malformed_row_in_a_later_chunk_leaves_nothing_behind(
        tmp_path, flights_slice, march_csv, small_chunks):
    home = tmp_path / "ws"
    ws = new_workspace(home, flights_slice)
    lines = march_csv.read_text().splitlines()
    lines[1800] += ",extra"
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    objects_before = sorted(p for p in (home / "objects").rglob("*") if p.is_file())
    events_before = len(ws.events())
    with pytest.raises(DataError, match="malformed row at line 1801"):
        ingest_batch(ws.store, "flights", broken)
    assert ws.project("flights").dataset()["version"] == 1
    assert len(ws.events()) == events_before
    assert sorted(p for p in (home / "objects").rglob("*") if p.is_file()) == objects_before
    assert scratch_left(home) == [] and verify_workspace(ws.store).ok


def test_a_batch_whose_target_holds_no_values_is_rejected(tmp_path, flights_slice):
    ws = new_workspace(tmp_path / "ws", flights_slice)
    batch = flights_slice.iloc[3000:3100].assign(delayed=None)
    outcome = ingest_batch(ws.store, "flights", batch)
    assert not outcome.accepted and outcome.dataset_version is None
    blocking = [f for f in outcome.validation["findings"] if f["severity"] == "blocking"]
    assert [(f["check"], f["column"]) for f in blocking] == [("missing_target", "delayed")]
    assert "training data needs labelled rows" in blocking[0]["message"]
    assert ws.events("flights")[-1]["action"] == "dataset.rejected"
    assert scratch_left(tmp_path / "ws") == []


def test_an_empty_frame_is_refused(tmp_path, flights_slice):
    ws = new_workspace(tmp_path / "ws", flights_slice)
    with pytest.raises(DataError, match="the batch has no rows"):
        ingest_batch(ws.store, "flights", flights_slice.iloc[:0])


def test_a_version_added_meanwhile_is_a_conflict_and_nothing_is_recorded(
        tmp_path, flights_slice, monkeypatch):
    ws = new_workspace(tmp_path / "ws", flights_slice)
    write = batch_ingest._write_table

    def racing(*args):
        monkeypatch.setattr(batch_ingest, "_write_table", write)
        ingest_batch(ws.store, "flights", flights_slice.iloc[3000:3500])  # another writer
        return write(*args)

    monkeypatch.setattr(batch_ingest, "_write_table", racing)
    with pytest.raises(ConflictError, match="was added while this batch was appended"):
        ingest_batch(ws.store, "flights", flights_slice.iloc[3500:4000])
    assert ws.project("flights").dataset()["version"] == 2
    assert [e["action"] for e in ws.events("flights")].count("dataset.ingested") == 2
