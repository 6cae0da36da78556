"""Batch prediction: a file in, a file of predictions out, one row per input row, in order.

Large files are streamed: Parquet by record batches, CSV by chunks of rows, so memory stays
bounded by ``chunk_rows`` whatever the file size. The work is a pipeline over the chunks:

- read (the calling thread): Parquet record batches of the feature columns only, strings
  dictionary-encoded (a category is then looked up once per distinct value); CSV chunks with
  pandas (its type inference and coercions are the reference for text files);
- score (one thread per core, each running the model single-threaded, so no OpenMP team spins
  against the readers): ``Predictor.predict_arrow_table`` for a Parquet batch (the trained
  preprocessing by vectorised Arrow compute, identical to ``predict_frame``, which it falls
  back to for column types only pandas coerces), ``Predictor.predict_frame`` for a CSV chunk;
- write (the calling thread, in input order): Arrow tables to Parquet, or to CSV by Arrow's
  writer (ten times pandas' ``to_csv``; the values round-trip exactly).

At most one chunk per scoring thread plus one more is held at a time. The predictions are
written to a temporary file next to the target and renamed at the end, so a failure half-way
leaves no partial output. Serving data must not contain the project's target: when the file
has it, the column is not read, a :class:`TargetColumnIgnored` warning says so and
:attr:`BatchResult.ignored_target` names it.

Example:
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"x": range(5)}).to_csv(folder / "in.csv", index=False)
    >>> [len(chunk) for chunk in iter_chunks(folder / "in.csv", chunk_rows=2)]
    [2, 2, 1]
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from mlpilot.core.errors import ConfigError, DataError, SchemaError
from mlpilot.models.predictor import Predictor

CHUNK_ROWS = 100_000
READ_BUFFER = 1 << 20  # bytes read from a Parquet column chunk at a time
Progress = Callable[[int, int | None], None]
Chunk = pa.Table | pd.DataFrame
_READ_ERRORS = (OSError, ValueError, pa.ArrowException, pd.errors.ParserError)


class TargetColumnIgnored(UserWarning):
    """The file to score holds the project's target column; it was left out of the input."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch prediction wrote.

    Attributes:
        rows: rows scored (= rows written).
        output: the predictions file.
        ignored_target: the target column's name when the input had it (it was not used).
    """

    rows: int
    output: Path
    ignored_target: str | None = None


def _kind(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise DataError(f"the {role} file {str(path)!r} has an unsupported type",
                    expected="a .csv, .tsv or .parquet file", found=f"suffix {suffix or 'none'}",
                    fix="convert it to CSV or Parquet, or give it the right suffix")


def _existing(source: Path) -> tuple[Path, str]:
    source = Path(source)
    kind = _kind(source, "input")
    if not source.is_file():
        raise DataError(f"file {str(source)!r} does not exist",
                        expected="a path to an existing CSV or Parquet file",
                        found=f"nothing at {source.resolve()}", fix="check the path")
    return source, kind


def iter_chunks(source: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of ``source`` (CSV, TSV or Parquet) as frames of at most ``chunk_rows`` rows."""
    source, kind = _existing(source)
    reader = _Reader(source, kind, None, chunk_rows)
    for chunk in reader:
        yield chunk.to_pandas() if isinstance(chunk, pa.Table) else chunk


class _Reader:
    """The chunks of one input file; with a predictor, only the columns it needs."""

    def __init__(self, source: Path, kind: str, predictor: Predictor | None,
                 chunk_rows: int) -> None:
        self.source, self.kind, self.chunk_rows = source, kind, chunk_rows
        self.total: int | None = None
        self.columns: list[str] | None = None  # None: every column
        self._dictionary: list[str] = []
        try:
            names = self._names()
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from exc
        self.ignored_target = None
        if predictor is None:
            return
        target = predictor.schema.target
        if target is not None and target in names:
            self.ignored_target = target
        features = list(predictor.schema.feature_columns)
        if set(features) <= set(names):  # else read all: the schema error lists what is there
            self.columns = features
        if kind == "parquet":
            categorical = {step["column"] for member in predictor.members
                           if member.features is not None for step in member.features.steps_
                           if step["kind"] in ("codes", "onehot")}
            self._dictionary = [field.name for field in self._arrow_schema
                                if field.name in categorical
                                and (pa.types.is_string(field.type)
                                     or pa.types.is_large_string(field.type))]

    def _names(self) -> list[str]:
        if self.kind == "parquet":
            self._arrow_schema = pq.read_schema(self.source)
            self.total = pq.ParquetFile(self.source).metadata.num_rows
            return list(self._arrow_schema.names)
        return [str(c) for c in pd.read_csv(self.source, nrows=0, sep=self._sep).columns]

    @property
    def _sep(self) -> str:
        return "\t" if self.kind == "tsv" else ","

    def __iter__(self) -> Iterator[Chunk]:
        try:
            yield from self._chunks()
        except _READ_ERRORS as exc:
            if isinstance(exc, DataError):
                raise
            raise self._unreadable(exc) from exc

    def _chunks(self) -> Iterator[Chunk]:
        if self.kind == "parquet":
            # pre_buffer off: its read cache keeps every range read until the file is closed,
            # so memory grew with the file (~8 MiB per million flights rows); a 1 MiB buffer
            # bounds a huge row group's column chunks too
            file = pq.ParquetFile(self.source, read_dictionary=self._dictionary or None,
                                  pre_buffer=False, buffer_size=READ_BUFFER)
            for batch in file.iter_batches(batch_size=self.chunk_rows, columns=self.columns):
                if batch.num_rows:
                    yield pa.Table.from_batches([batch])
        else:
            with pd.read_csv(self.source, sep=self._sep, chunksize=self.chunk_rows,
                             usecols=self.columns) as reader:
                yield from (frame for frame in reader if len(frame))

    def _unreadable(self, exc: Exception) -> DataError:
        return DataError(f"cannot read {str(self.source)!r}",
                         expected="a complete CSV or Parquet file",
                         found=f"{type(exc).__name__}: {exc}",
                         fix="re-export the file and try again")


class _Writer:
    """Appends prediction tables to a temporary file, renamed onto ``output`` at the end."""

    def __init__(self, output: Path, schema: pa.Schema) -> None:
        self.output, self.schema = output, schema
        self.kind = _kind(output, "output")
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
        os.close(fd)
        self.tmp = Path(tmp)
        self._sink = pa.OSFile(str(self.tmp), "wb")
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter
        if self.kind == "parquet":  # dictionary pages for the labels only (not the floats)
            labels = [] if pa.types.is_floating(schema.field(0).type) else [schema.names[0]]
            self._writer = pq.ParquetWriter(self._sink, schema, use_dictionary=labels)
        else:
            delimiter = "\t" if self.kind == "tsv" else ","
            header = io.StringIO()  # the header as pandas writes it (quoted only if needed)
            csv.writer(header, delimiter=delimiter, lineterminator="\n").writerow(schema.names)
            self._sink.write(header.getvalue().encode("utf-8"))
            self._writer = pa_csv.CSVWriter(self._sink, schema, write_options=pa_csv.WriteOptions(
                include_header=False, delimiter=delimiter, quoting_style="needed"))

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def _close(self) -> None:
        if not self._sink.closed:
            self._writer.close()
            self._sink.close()

    def commit(self) -> None:
        self._close()
        with open(self.tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.output)

    def discard(self) -> None:
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)


def default_threads() -> int:
    """Scoring threads: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _single_threaded_model() -> None:
    """Pool initializer: this thread's OpenMP parallel regions (LightGBM, XGBoost) use one
    thread; the pool's threads give the parallelism instead."""
    threadpool_limits(limits=1, user_api="openmp")


def predict_file(predictor: Predictor, source: Path, output: Path, *,
                 chunk_rows: int = CHUNK_ROWS, on_progress: Progress | None = None,
                 threads: int | None = None) -> BatchResult:
    """Score ``source`` chunk by chunk and write ``output`` atomically (type by suffix).

    Args:
        predictor: the model.
        source: a .parquet, .csv or .tsv file.
        output: where to write (.parquet, .csv or .tsv): ``prediction`` then
            ``proba_<class>`` per class, one row per input row, in order.
        chunk_rows: rows per chunk (memory is about ``threads + 2`` chunks).
        on_progress: called as ``on_progress(rows_done, total_rows)`` after each chunk is
            written (total None for CSV).
        threads: scoring threads (default: one per available core).

    Raises:
        DataError: the file is missing, unreadable or has no rows.
        SchemaError: its columns or values do not fit the training schema.
    """
    source, kind = _existing(source)
    output = Path(output)
    reader = _Reader(source, kind, predictor, chunk_rows)
    if reader.ignored_target is not None:
        warnings.warn(f"{str(source)!r} has the target column {reader.ignored_target!r}: "
                      "serving data must not contain it, so it was ignored (not read, not "
                      "used as a feature); drop it from the file to silence this warning",
                      TargetColumnIgnored, stacklevel=2)
    workers = threads if threads is not None else default_threads()
    if workers < 1:
        raise ConfigError("threads must be at least 1", found=str(workers),
                          fix="pass threads=1 or more, or leave it out for one per core")
    writer = _Writer(output, predictor.output_schema)
    rows = 0

    def score(chunk: Chunk, start: int) -> pa.Table:
        try:
            if isinstance(chunk, pa.Table):
                return predictor.predict_arrow_table(chunk)
            frame = predictor.predict_frame(chunk)
        except SchemaError as exc:  # say where in the file: row numbers count from the chunk
            end = start + len(chunk) - 1
            raise SchemaError(f"rows {start:,}-{end:,} of {source.name!r} (row numbers below "
                              f"count from row {start:,}): {exc.problem}", expected=exc.expected,
                              found=exc.found, fix=exc.fix) from exc
        return pa.Table.from_pandas(frame, preserve_index=False) \
            .replace_schema_metadata(None).cast(writer.schema)

    pending: deque[Future[pa.Table]] = deque()

    def drain(keep: int) -> None:
        nonlocal rows
        while len(pending) > keep:
            table = pending.popleft().result()
            writer.write(table)
            rows += table.num_rows
            if on_progress is not None:
                on_progress(rows, reader.total)

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlpilot-predict",
                                initializer=_single_threaded_model) as pool:
            try:
                start = 0
                for chunk in reader:
                    pending.append(pool.submit(score, chunk, start))
                    start += len(chunk)
                    drain(workers)  # one chunk waits for each busy thread, plus this one
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
    return BatchResult(rows=rows, output=output, ignored_target=reader.ignored_target)
