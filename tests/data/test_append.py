"""Streaming an append gives the bytes of concatenating in memory, whatever the chunking."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlpilot.core.errors import DataError
from mlpilot.data import canonical
from mlpilot.data.append import TableAppend
from mlpilot.data.canonical import CanonicalWriter, frame_to_arrow, table_to_parquet_bytes
from mlpilot.data.sources import parquet_bytes_to_table


def concat_in_memory(parent: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """What ingest did before streaming: cast the batch to the parent's dtypes, concatenate."""
    batch = batch.reindex(columns=parent.columns)
    for name in parent.columns:
        if batch[name].dtype != parent[name].dtype:
            with contextlib.suppress(TypeError, ValueError):
                batch[name] = batch[name].astype(parent[name].dtype)
    return pd.concat([parent, batch], ignore_index=True)


def streamed(parent_bytes: bytes, chunks: list[pd.DataFrame], tmp_path) -> bytes:
    append = TableAppend(io.BytesIO(parent_bytes), tmp_path)
    for chunk in chunks:
        append.add(chunk)
    sink = io.BytesIO()
    with CanonicalWriter(sink, append.schema()) as writer:
        for piece, _ in append.parent_pieces():
            writer.write(piece)
        for piece in append.batch_pieces():
            writer.write(piece)
    assert not list(tmp_path.iterdir())  # spilled chunks are removed as they are read
    return sink.getvalue()


@pytest.fixture
def small_row_groups(monkeypatch):
    """Row groups of 1,000 rows, so a few thousand rows cross several of them."""
    monkeypatch.setattr(canonical, "ROW_GROUP_ROWS", 1000)


@pytest.fixture
def parent() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 2500
    return pd.DataFrame({
        "amount": rng.normal(size=n), "count": rng.integers(0, 50, n),
        "city": pd.array(rng.choice(["Boston", "Lyon", "Oslo"], n), dtype="str"),
        "code": pd.array([f"id{i}" for i in rng.integers(0, 10**6, n)], dtype="string"),
        "flag": rng.random(n) < 0.3, "when": pd.Timestamp("2024-01-01")
        + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")})


def batch_chunks(parent: pd.DataFrame, missing: bool) -> list[pd.DataFrame]:
    batch = parent.sample(1800, random_state=1).reset_index(drop=True)
    if missing:  # an integer column and a boolean one get a missing value in one chunk only
        batch["count"] = batch["count"].astype("float64")
        batch.loc[1500, "count"] = np.nan
        batch["flag"] = batch["flag"].astype("boolean")
        batch.loc[1600, "flag"] = pd.NA
    return [batch.iloc[i:i + 700] for i in range(0, len(batch), 700)]


@pytest.mark.parametrize("missing", [False, True])
def test_a_streamed_append_has_the_bytes_of_the_in_memory_concat(
        parent, small_row_groups, tmp_path, missing):
    parent_bytes = table_to_parquet_bytes(parent)
    chunks = batch_chunks(parent, missing)
    expected = concat_in_memory(parquet_bytes_to_table(parent_bytes), pd.concat(chunks))
    got = streamed(parent_bytes, chunks, tmp_path)
    assert got == table_to_parquet_bytes(expected)
    back = parquet_bytes_to_table(got)
    assert str(back["count"].dtype) == ("float64" if missing else "int64")
    assert str(back["flag"].dtype) == ("boolean" if missing else "bool")
    assert len(back) == 4300


def test_the_canonical_bytes_do_not_depend_on_chunking(parent, small_row_groups):
    table = frame_to_arrow(parent)
    whole = table_to_parquet_bytes(parent)
    for size in (1, 333, 1000, 1024, 4000):
        sink = io.BytesIO()
        with CanonicalWriter(sink, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=size):
                writer.write(batch)
        assert sink.getvalue() == whole, size


def test_a_piece_of_another_schema_is_refused(parent, tmp_path):
    table = frame_to_arrow(parent)
    with pytest.raises(DataError, match="does not match the table's schema"), \
            CanonicalWriter(str(tmp_path / "t.parquet"), table.schema) as writer:
        writer.write(table.drop_columns(["flag"]))


def test_numbers_next_to_text_are_refused_with_the_column_named(tmp_path):
    parent_bytes = table_to_parquet_bytes(pd.DataFrame({"code": [1, 2], "y": [0, 1]}))
    append = TableAppend(io.BytesIO(parent_bytes), tmp_path)
    append.add(pd.DataFrame({"code": pd.array(["A7", "B9"], dtype="str"), "y": [1, 0]}))
    with pytest.raises(DataError, match="column 'code' cannot hold the batch's values"):
        append.schema()


@pytest.mark.parametrize("rows", [0, 1, 2500])
def test_the_canonical_form_is_what_pyarrow_wrote_before_streaming(parent, rows):
    """Tables stored before the streaming writer keep their bytes (and their hashes)."""
    frame = parent.iloc[:rows]
    table = frame_to_arrow(frame)
    before = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(canonical.canonical_schema(table.schema)
                                                 .metadata), before, compression="zstd",
                   compression_level=3, use_dictionary=True, write_statistics=True)
    assert table_to_parquet_bytes(frame) == before.getvalue()
