"""Canonical Parquet: a table's bytes depend on its values and types only, written whole or
streamed row group by row group.

The canonical form of a frame: its Arrow conversion (index dropped, column names as text, the
pandas metadata without version stamps), written with zstd level 3, dictionary encoding and
statistics, in row groups of :data:`ROW_GROUP_ROWS` rows, each column of a row group handed to
the Parquet writer as one contiguous array. The last rule matters: where the writer cuts pages
and gives up on a dictionary depends on how a column is split into Arrow chunks, so two tables
with the same values but different chunking would otherwise get different bytes.
:class:`CanonicalWriter` holds at most one row group (plus the piece that overflows it), so a
table of any length is written in bounded memory.

Example:
    >>> import io, pandas as pd
    >>> df = pd.DataFrame({"carrier": ["UA", "AA", "B6"], "distance": [1400, 1089, 1576]})
    >>> whole = table_to_parquet_bytes(df)
    >>> table = frame_to_arrow(df)
    >>> sink = io.BytesIO()
    >>> with CanonicalWriter(sink, table.schema) as writer:
    ...     writer.write(table.slice(0, 2))
    ...     writer.write(table.slice(2))
    >>> sink.getvalue() == whole
    True
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlpilot.core.errors import DataError

#: rows per row group. Smaller than pyarrow's default (1,048,576), which the canonical form
#: used before it was streamed: a row group is what the writer must hold, and a million rows
#: of a wide table is more than the table's own size again. Tables up to this many rows keep
#: the bytes (and hashes) they had; longer ones are cut into more row groups.
ROW_GROUP_ROWS = 1 << 16
_WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3,
                                  "use_dictionary": True, "write_statistics": True}
# Metadata keys in the pandas schema block that vary with library versions, not with the data.
_VOLATILE_PANDAS_KEYS = ("creator", "pandas_version")


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its pandas metadata block stripped of version stamps, keys sorted."""
    meta = dict(schema.metadata or {})
    raw = meta.get(b"pandas")
    if raw is not None:
        info = json.loads(raw)
        for key in _VOLATILE_PANDAS_KEYS:
            info.pop(key, None)
        meta[b"pandas"] = json.dumps(info, sort_keys=True, separators=(",", ":")).encode()
    return schema.with_metadata(meta)


def frame_to_arrow(df: pd.DataFrame) -> pa.Table:
    """A frame as Arrow: index dropped, column names as text.

    Raises:
        DataError: a column holds values Parquet cannot store (mixed Python types).
    """
    frame = df.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(
            "the table cannot be stored as Parquet",
            expected="columns of one type each (numbers, strings, booleans, dates)",
            found=f"{type(exc).__name__}: {exc}",
            fix="convert mixed-type columns to one type (for example astype(str))",
        ) from exc


class CanonicalWriter:
    """Writes Arrow pieces of one schema as canonical Parquet, one row group at a time.

    Pieces may have any length and chunking; the bytes equal those of writing the whole table
    at once (:func:`table_to_parquet_bytes`). Use it as a context manager: leaving the block
    normally writes the last row group and the footer; leaving it by an exception closes the
    sink's Parquet writer without completing the file (the caller removes it).
    """

    def __init__(self, sink: str | BinaryIO, schema: pa.Schema) -> None:
        self.schema = canonical_schema(schema)
        self.rows = 0
        self._writer = pq.ParquetWriter(sink, self.schema, **_WRITE_OPTIONS)
        self._pending: list[list[pa.Array]] = [[] for _ in self.schema]
        self._pending_rows = 0

    def write(self, piece: pa.Table | pa.RecordBatch) -> None:
        """Add rows; a row group is written each time ROW_GROUP_ROWS rows are waiting."""
        if not piece.schema.equals(self.schema, check_metadata=False):
            raise DataError("a piece of the table does not match the table's schema",
                            expected=str(self.schema.remove_metadata()),
                            found=str(piece.schema.remove_metadata()),
                            fix="cast every piece to the table's schema before writing it")
        columns = (piece.columns if isinstance(piece, pa.RecordBatch)
                   else [c.chunks for c in piece.columns])
        for pending, column in zip(self._pending, columns, strict=True):
            pending.extend(column if isinstance(column, list) else [column])
        self._pending_rows += piece.num_rows
        self.rows += piece.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        arrays = []
        for i, pending in enumerate(self._pending):
            taken, left, need = [], [], rows
            for chunk in pending:
                if need >= len(chunk):
                    taken.append(chunk)
                    need -= len(chunk)
                elif need > 0:
                    taken.append(chunk.slice(0, need))
                    left.append(chunk.slice(need))
                    need = 0
                else:
                    left.append(chunk)
            self._pending[i] = left
            # one contiguous array per column: see the module docstring
            arrays.append(taken[0] if len(taken) == 1 else pa.concat_arrays(taken))
            del taken
        self._pending_rows -= rows
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema),
                                 row_group_size=rows)

    def close(self) -> None:
        """Write the rows still waiting and the footer."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        elif self.rows == 0:  # as pyarrow writes an empty table: one empty row group
            self._writer.write_table(self.schema.empty_table())
        self._writer.close()

    def __enter__(self) -> CanonicalWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self._pending = [[] for _ in self.schema]
            self._writer.close()


def table_to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Canonical Parquet bytes of a frame: the same frame always gives the same bytes.

    The bytes depend on the data and column types only (and the Parquet writer's own version,
    recorded in the footer).

    Raises:
        DataError: a column holds values Parquet cannot store (mixed Python types).
    """
    table = frame_to_arrow(df)
    buffer = io.BytesIO()
    with CanonicalWriter(buffer, table.schema) as writer:
        writer.write(table)
    return buffer.getvalue()


def probe_schema(probe: pd.DataFrame, resolve: Callable[[str], pa.DataType]) -> pa.Schema:
    """The Arrow schema of a table shaped like ``probe`` (empty columns of the final dtypes),
    with the pandas metadata of those dtypes. Columns pandas cannot type on their own
    (all-missing, or object) get ``resolve(name)``: the Arrow type their values had."""
    fields = []
    for f in pa.Schema.from_pandas(probe, preserve_index=False):
        kind = f.type
        if pa.types.is_null(kind) or str(probe[f.name].dtype) == "object":
            kind = resolve(f.name)
        fields.append(pa.field(f.name, kind))
    return pa.Table.from_pandas(probe, schema=pa.schema(fields), preserve_index=False).schema


def spill_chunk(table: pa.Table, path: Path) -> None:
    """Write one chunk to a scratch Arrow IPC file, lz4-compressed: read back, every column
    owns its buffers, so the canonical writer frees a chunk's columns one by one as it
    assembles a row group. Shared by the streamed ingest and the streamed project create."""
    import pyarrow.ipc as ipc

    options = ipc.IpcWriteOptions(compression="lz4")
    with (pa.OSFile(str(path), "wb") as sink,
          ipc.new_file(sink, table.schema, options=options) as writer):
        writer.write_table(table)
