"""Appending a batch to a stored table, streamed: the rows and types ``pd.concat`` would give.

A new dataset version is the parent's rows followed by the batch's. In memory that is
``pd.concat([parent, batch])`` after casting each batch column to the parent's dtype where the
values allow it; the result's dtype per column is pandas' common type (an integer column whose
batch has a missing value becomes float, a boolean one becomes the nullable ``boolean``).
:class:`TableAppend` gives the same table without holding it: each coerced batch chunk is cast
like that and spilled to an Arrow IPC file in a scratch folder; once the batch is read, the
final types are resolved from the dtypes seen, and the parent's record batches and the spilled
chunks come back as Arrow pieces of that one schema, ready for
:class:`mlpilot.data.canonical.CanonicalWriter`.

Example:
    >>> import io, tempfile, pathlib, pandas as pd
    >>> from mlpilot.data.canonical import table_to_parquet_bytes
    >>> parent = pd.DataFrame({"n": [1, 2], "c": ["a", "b"]})
    >>> append = TableAppend(io.BytesIO(table_to_parquet_bytes(parent)),
    ...                      pathlib.Path(tempfile.mkdtemp()))
    >>> append.add(pd.DataFrame({"n": [3.0, None], "c": ["c", "d"]}))
    >>> schema = append.schema()
    >>> str(schema.field("n").type)
    'double'
    >>> pieces = [p for p, _ in append.parent_pieces()] + list(append.batch_pieces())
    >>> pa.concat_tables(pieces).column("n").to_pylist()
    [1.0, 2.0, 3.0, None]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from mlpilot.core.errors import DataError
from mlpilot.data.canonical import frame_to_arrow, probe_schema, spill_chunk
from mlpilot.data.sources import PARQUET_STREAMING

#: rows per record batch read back from the parent table
PIECE_ROWS = 1 << 14


def _null_count(file: pq.ParquetFile, index: int) -> int | None:
    """Nulls of column ``index`` by the row groups' statistics (None when not recorded)."""
    total = 0
    for group in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_null_count:
            return None
        total += stats.null_count
    return total


def _parent_dtypes(file: pq.ParquetFile) -> pd.DataFrame:
    """An empty frame with the dtypes reading the whole parent table into pandas gives."""
    schema = file.schema_arrow
    frame = schema.empty_table().to_pandas()
    nullable = []
    for i, name in enumerate(schema.names):
        nulls = _null_count(file, i)
        if nulls is None:
            nulls = file.read(columns=[name]).column(0).null_count
        if nulls:
            nullable.append(name)
    if nullable:  # e.g. an int64 column with nulls reads as float64
        one = pa.Table.from_arrays([pa.nulls(1, f.type) for f in schema], schema=schema)
        with_nulls = one.to_pandas()
        for name in nullable:
            frame[name] = with_nulls[name].iloc[:0]
    return frame


class TableAppend:
    """A stored canonical table (an open Parquet file) plus batch chunks spilled to ``scratch``.

    Call :meth:`add` with each coerced batch chunk, then :meth:`schema`, then iterate
    :meth:`parent_pieces` and :meth:`batch_pieces` (once each; spilled files are removed as
    they are read back).
    """

    def __init__(self, parent: BinaryIO | str | Path, scratch: Path) -> None:
        self._file = pq.ParquetFile(parent, **PARQUET_STREAMING)
        self._reference = _parent_dtypes(self._file)
        self.columns = list(self._reference.columns)
        self.parent_rows = self._file.metadata.num_rows
        self.batch_rows = 0
        self._scratch = scratch
        self._spilled: list[Path] = []
        self._dtypes: dict[tuple[str, ...], pd.DataFrame] = {}
        self._types: dict[str, set[pa.DataType]] = {
            f.name: ({f.type} if not pa.types.is_null(f.type) else set())
            for f in self._file.schema_arrow}
        self._schema: pa.Schema | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        """Spill one coerced chunk, cast to the parent's dtypes where its values allow."""
        frame = chunk.reindex(columns=self.columns)
        for name in self.columns:
            want = self._reference[name].dtype
            if frame[name].dtype != want:
                # missing values in an integer column cannot be cast: pandas widens to float
                with contextlib.suppress(TypeError, ValueError):
                    frame[name] = frame[name].astype(want)
        table = frame_to_arrow(frame)
        self._dtypes.setdefault(tuple(str(d) for d in frame.dtypes), frame.iloc[:0])
        for f in table.schema:
            if not pa.types.is_null(f.type):
                self._types[f.name].add(f.type)
        path = self._scratch / f"chunk-{len(self._spilled):06d}.arrow"
        spill_chunk(table, path)
        self._spilled.append(path)
        self.batch_rows += len(frame)

    def schema(self) -> pa.Schema:
        """The appended table's Arrow schema, with the pandas metadata of its final dtypes.

        Raises:
            DataError: a column holds values of two types pandas cannot combine (say numbers
                in the parent's rows and text in the batch's).
        """
        if self._schema is not None:
            return self._schema
        probe = pd.concat([self._reference, *self._dtypes.values()], ignore_index=True)

        def resolve(name: str) -> pa.DataType:
            seen = self._types[name]
            if len(seen) > 1:
                raise DataError(
                    f"column {name!r} cannot hold the batch's values next to the "
                    "existing rows'",
                    expected="values of one type in every row of a column",
                    found="types " + ", ".join(sorted(str(t) for t in seen)),
                    fix="make the batch's values match the column's type, or edit the "
                    "schema and re-create the project from the combined table")
            return next(iter(seen)) if seen else pa.null()

        self._schema = probe_schema(probe, resolve)
        return self._schema

    def _cast(self, table: pa.Table) -> pa.Table:
        target = self.schema()
        try:
            return table.cast(target.remove_metadata(), safe=False).replace_schema_metadata(
                target.metadata)
        except (pa.ArrowException, ValueError) as exc:
            raise DataError("the batch's rows cannot be appended to the existing rows",
                            expected=str(target.remove_metadata()),
                            found=f"{type(exc).__name__}: {exc}",
                            fix="make the batch's column types match the project's schema"
                            ) from exc

    def parent_pieces(self) -> Iterator[tuple[pa.Table, pa.RecordBatch]]:
        """The parent's rows: (piece in the final schema, the record batch as stored)."""
        for batch in self._file.iter_batches(batch_size=PIECE_ROWS):
            yield self._cast(pa.Table.from_batches([batch])), batch

    def batch_pieces(self) -> Iterator[pa.Table]:
        """The batch's rows in the final schema, read back (and removed) chunk by chunk."""
        for path in self._spilled:
            with pa.OSFile(str(path), "rb") as source:
                table = ipc.open_file(source).read_all()
            path.unlink()
            yield self._cast(table)
