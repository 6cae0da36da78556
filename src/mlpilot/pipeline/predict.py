"""Batch prediction: a file in, a file of predictions out, one row per input row, in order.

Large files are streamed: Parquet by record batches, CSV by chunks of rows, so memory stays
bounded by ``chunk_rows`` whatever the file size. A Parquet record batch goes through
``Predictor.predict_arrow`` (the trained preprocessing computed with vectorised Arrow compute,
identical to ``predict_frame`` on the same rows, which it falls back to for column types only
pandas coerces); a CSV chunk through ``Predictor.predict_frame``. Both are the Predictor's own
paths, shared with online serving, so batch never preprocesses differently from training.
The output is written to a temporary file next to the target and renamed at the end, so a
failure half-way leaves no partial output.

Example:
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"x": range(5)}).to_csv(folder / "in.csv", index=False)
    >>> [len(chunk) for chunk in iter_chunks(folder / "in.csv", chunk_rows=2)]
    [2, 2, 1]
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlpilot.core.errors import DataError
from mlpilot.models.predictor import Predictor

CHUNK_ROWS = 100_000
IN_FLIGHT = 2  # chunks scored at once (bounded memory: about IN_FLIGHT + 1 chunks held)
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class BatchResult:
    rows: int
    output: Path


def predict_frame(predictor: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """``prediction`` then ``proba_<class>`` per class, one row per input row, in order."""
    return predictor.predict_frame(frame)


def _kind(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise DataError(f"the {role} file {str(path)!r} has an unsupported type",
                    expected="a .csv, .tsv or .parquet file", found=f"suffix {suffix or 'none'}",
                    fix="convert it to CSV or Parquet, or give it the right suffix")


def count_rows(source: Path) -> int | None:
    """The number of rows of a Parquet file (from its footer); None for CSV."""
    return pq.ParquetFile(source).metadata.num_rows if _kind(source, "input") == "parquet" \
        else None


def iter_chunks(source: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of ``source`` (CSV, TSV or Parquet) as frames of at most ``chunk_rows`` rows."""
    for chunk in _iter_raw(source, chunk_rows):
        yield chunk.to_pandas() if isinstance(chunk, pa.Table) else chunk


def _iter_raw(source: Path, chunk_rows: int) -> Iterator[pa.Table | pd.DataFrame]:
    """Parquet record batches as Arrow tables; CSV chunks as frames."""
    source = Path(source)
    kind = _kind(source, "input")
    if not source.is_file():
        raise DataError(f"file {str(source)!r} does not exist",
                        expected="a path to an existing CSV or Parquet file",
                        found=f"nothing at {source.resolve()}", fix="check the path")
    try:
        if kind == "parquet":
            for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk_rows):
                yield pa.Table.from_batches([batch])
        else:
            with pd.read_csv(source, sep="\t" if kind == "tsv" else ",",
                             chunksize=chunk_rows) as reader:
                yield from reader
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read {str(source)!r}", expected="a complete CSV or Parquet "
                        "file", found=f"{type(exc).__name__}: {exc}",
                        fix="re-export the file and try again") from exc


class _Writer:
    """Appends prediction chunks to a temporary file, renamed onto ``output`` at the end."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.kind = _kind(output, "output")
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
        os.close(fd)
        self.tmp = Path(tmp)
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.tmp, table.schema)
            self._parquet.write_table(table.cast(self._schema))
        else:
            frame.to_csv(self.tmp, mode="w" if self._first else "a", header=self._first,
                         index=False, sep="\t" if self.kind == "tsv" else ",")
        self._first = False

    def commit(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        with open(self.tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.output)

    def discard(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)


def predict_file(predictor: Predictor, source: Path, output: Path, *,
                 chunk_rows: int = CHUNK_ROWS, on_progress: Progress | None = None
                 ) -> BatchResult:
    """Score ``source`` chunk by chunk and write ``output`` atomically (type by suffix).

    ``on_progress(rows_done, total_rows)`` is called after each chunk (total None for CSV).
    """
    source, output = Path(source), Path(output)
    total = count_rows(source) if source.is_file() else None
    writer = _Writer(output)
    rows = 0

    def score(chunk: pa.Table | pd.DataFrame) -> pd.DataFrame:
        if isinstance(chunk, pa.Table):
            return predictor.predict_arrow(chunk)
        return predictor.predict_frame(chunk)

    # Chunk k+1 is read and scored while chunk k is scored and written: the model's predict and
    # Arrow compute release the GIL, so the two cores overlap. At most IN_FLIGHT chunks are held.
    pending: deque[Future[pd.DataFrame]] = deque()
    try:
        with ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="mlpilot-predict"
                                ) as pool:
            def drain(keep: int) -> None:
                nonlocal rows
                while len(pending) > keep:
                    frame = pending.popleft().result()
                    writer.write(frame)
                    rows += len(frame)
                    if on_progress is not None:
                        on_progress(rows, total)
            try:
                for chunk in _iter_raw(source, chunk_rows):
                    pending.append(pool.submit(score, chunk))
                    drain(IN_FLIGHT - 1)
                drain(0)
            finally:
                for future in pending:
                    future.cancel()
        if rows == 0:
            raise DataError(f"{str(source)!r} has no rows to predict",
                            expected="at least one data row", found="a header only",
                            fix="check that the export wrote the data")
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    return BatchResult(rows=rows, output=output)
