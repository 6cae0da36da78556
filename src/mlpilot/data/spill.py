"""A table read in chunks, spilled to disk, given back in the types reading it whole gives.

A file read in chunks gets its column types chunk by chunk: an integer column with a missing
value in one chunk is float there, a text column with no value in a chunk is float NaN there.
:class:`ChunkSpill` converts each chunk to Arrow, spills it as an lz4 Arrow IPC file into a
scratch folder and remembers the types seen. Once every chunk is in, :meth:`~ChunkSpill.dtypes`
resolves the pandas dtype of each column the way reading the whole table does (the common
type of the chunks that hold values; a chunk with no value only widens an integer column to
float and a boolean one to object), :meth:`~ChunkSpill.schema` the Arrow schema (with the
pandas metadata) the whole frame converts to, and :meth:`~ChunkSpill.pieces` gives the spilled
chunks back in that schema, ready for :class:`mlpilot.data.canonical.CanonicalWriter`: the
bytes are those of ``table_to_parquet_bytes`` on the whole table.

Example:
    >>> import io, tempfile, pathlib, pandas as pd
    >>> from mlpilot.data.canonical import CanonicalWriter, table_to_parquet_bytes
    >>> spill = ChunkSpill(pathlib.Path(tempfile.mkdtemp()))
    >>> spill.add(pd.DataFrame({"n": [1, 2], "c": ["a", "b"]}))
    >>> spill.add(pd.DataFrame({"n": [3.0, None], "c": [None, None]}))
    >>> {name: str(dtype) for name, dtype in spill.dtypes().items()}
    {'n': 'float64', 'c': 'str'}
    >>> sink = io.BytesIO()
    >>> with CanonicalWriter(sink, spill.schema()) as writer:
    ...     for piece in spill.pieces():
    ...         writer.write(piece)
    >>> whole = pd.DataFrame({"n": [1.0, 2.0, 3.0, None], "c": ["a", "b", None, None]})
    >>> sink.getvalue() == table_to_parquet_bytes(whole)
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from mlpilot.core.errors import DataError
from mlpilot.data.canonical import frame_to_arrow, probe_schema, spill_chunk


def _common_dtype(dtypes: list[Any]) -> Any:
    """The dtype pandas gives when it concatenates columns of these dtypes."""
    if len(dtypes) == 1:
        return dtypes[0]
    return pd.concat([pd.Series([], dtype=d) for d in dtypes], ignore_index=True).dtype


def _holding_missing(dtype: Any) -> Any:
    """``dtype`` widened, as pandas does, to hold a missing value (NumPy ints and bools)."""
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return np.dtype("float64")
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return np.dtype("object")
    return dtype


def as_dtypes(frame: pd.DataFrame, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with each column cast to ``dtypes`` where it differs (a chunk in the whole
    table's types; the frame is changed in place and returned)."""
    for name in frame.columns:
        want = dtypes[name]
        if frame[name].dtype != want:
            frame[name] = frame[name].astype(want)
    return frame


def _arrow_type(name: str, seen: set[pa.DataType]) -> pa.DataType:
    """The Arrow type of an object column whose chunks converted to the types ``seen``."""
    if len(seen) <= 1:
        return next(iter(seen)) if seen else pa.null()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in seen):
        return pa.float64()  # as Arrow infers Python ints and floats mixed in one column
    raise DataError(
        f"column {name!r} holds values of different types in different parts of the table",
        expected="values of one type in every row of a column",
        found="types " + ", ".join(sorted(str(t) for t in seen)),
        fix=f"make every value of {name!r} the same type (quote numbers meant as text, or "
        "export the table as Parquet with that column's type set)")


class ChunkSpill:
    """Chunks of one table spilled to ``scratch``; see the module docstring.

    Call :meth:`add` with every chunk (string column names, the same in each), then
    :meth:`dtypes` / :meth:`schema`, then iterate :meth:`pieces` once (spilled files are
    removed as they are read back).
    """

    def __init__(self, scratch: Path) -> None:
        self.columns: list[str] = []
        self.rows = 0
        self._scratch = scratch
        self._spilled: list[Path] = []
        self._valued: dict[str, list[Any]] = {}
        self._blank: dict[str, list[Any]] = {}
        self._types: dict[str, set[pa.DataType]] = {}
        self._schema: pa.Schema | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        """Spill one chunk and note its column types.

        Raises:
            DataError: a column holds values Parquet cannot store (mixed Python types).
        """
        if not self.columns:
            self.columns = [str(c) for c in chunk.columns]
            for name in self.columns:
                self._valued[name], self._blank[name], self._types[name] = [], [], set()
        table = frame_to_arrow(chunk)
        missing = chunk.isna().sum().to_numpy()
        for i, name in enumerate(self.columns):
            dtype = chunk.dtypes.iloc[i]
            if missing[i] == len(chunk):
                if dtype not in self._blank[name]:
                    self._blank[name].append(dtype)
                continue
            if dtype not in self._valued[name]:
                self._valued[name].append(dtype)
            self._types[name].add(table.schema.field(i).type)
        path = self._scratch / f"chunk-{len(self._spilled):06d}.arrow"
        spill_chunk(table, path)
        self._spilled.append(path)
        self.rows += len(chunk)

    def mixed_text(self) -> list[str]:
        """Columns read as text in some chunks and as numbers or booleans in others: a CSV
        column whose text starts after the first chunk (reading the file whole gives it as
        text; read it again with those columns as text)."""
        return [name for name in self.columns if len(self._types[name]) > 1
                and any(pa.types.is_string(t) or pa.types.is_large_string(t)
                        for t in self._types[name])]

    def discard(self) -> None:
        """Remove the spilled files (before reading the table again)."""
        for path in self._spilled:
            path.unlink(missing_ok=True)
        self._spilled.clear()

    def dtypes(self) -> dict[str, Any]:
        """Each column's pandas dtype in the whole table."""
        out = {}
        for name in self.columns:
            valued, blank = self._valued[name], self._blank[name]
            if not valued:
                out[name] = _common_dtype(blank)
                continue
            dtype = _common_dtype(valued)
            out[name] = _holding_missing(dtype) if any(b != dtype for b in blank) else dtype
        return out

    def schema(self) -> pa.Schema:
        """The Arrow schema of the whole table, with the pandas metadata of its dtypes.

        Raises:
            DataError: an object column converted to different Arrow types in different chunks
                (text in some, numbers in others).
        """
        if self._schema is not None:
            return self._schema
        dtypes = self.dtypes()
        probe = pd.DataFrame({name: pd.Series([], dtype=dtypes[name]) for name in self.columns})
        self._schema = probe_schema(probe, lambda name: _arrow_type(name, self._types[name]))
        return self._schema

    def _cast(self, table: pa.Table) -> pa.Table:
        target = self.schema()
        columns: list[pa.Array | pa.ChunkedArray] = []
        for field, column in zip(target, table.columns, strict=True):
            if column.null_count == len(column):
                columns.append(pa.nulls(len(column), field.type))
            elif column.type == field.type:
                columns.append(column)
            else:
                try:
                    columns.append(column.cast(field.type, safe=False))
                except (pa.ArrowException, ValueError) as exc:
                    raise DataError(
                        f"column {field.name!r} cannot hold all of its values as one type",
                        expected=str(field.type), found=f"{type(exc).__name__}: {exc}",
                        fix=f"make every value of {field.name!r} the same type") from exc
        return pa.Table.from_arrays(columns, schema=target)

    def pieces(self) -> Iterator[pa.Table]:
        """The chunks in the table's schema, read back (and removed) one by one."""
        for path in self._spilled:
            with pa.OSFile(str(path), "rb") as source:
                table = ipc.open_file(source).read_all()
            path.unlink()
            yield self._cast(table)
