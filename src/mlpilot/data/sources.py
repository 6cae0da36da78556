"""Read and write tables: CSV, TSV and Parquet, with errors a person can act on.

Tables cross into mlpilot here, so every failure becomes a :class:`DataError` that says what
was wrong with the file and what to do, never a parser traceback.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"carrier": ["UA", "AA"], "distance": [1400, 1089]})
    >>> data = table_to_parquet_bytes(df)
    >>> data == table_to_parquet_bytes(df.copy())
    True
    >>> parquet_bytes_to_table(data).equals(df)
    True
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import re
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlpilot.core.errors import DataError
from mlpilot.data.canonical import table_to_parquet_bytes

__all__ = ["CHUNK_ROWS", "PARQUET_STREAMING", "SUPPORTED_SUFFIXES", "parquet_bytes_to_table",
           "read_table", "read_table_chunks", "table_to_parquet_bytes", "write_table"]

CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
#: rows per chunk when a file is read in chunks
CHUNK_ROWS = 1 << 14
#: read Parquet column chunks through a 1 MiB buffer, not whole (a row group may be the file)
PARQUET_STREAMING = {"pre_buffer": False, "buffer_size": 1 << 20}
_SNIFF_BYTES = 1 << 16
_DECODE_BLOCK = 1 << 24
_PARQUET_MAGIC = b"PAR1"


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"cannot read {path.name!r}: unsupported file type {path.suffix or '(no suffix)'!r}",
            expected="a file ending in " + ", ".join(SUPPORTED_SUFFIXES),
            found=str(path),
            fix="export the table as CSV or Parquet and name the file accordingly",
        )
    return suffix


def _checked_path(path: Path) -> str:
    """The file's suffix, after checking it names an existing, non-empty file of a known type."""
    suffix = _suffix(path)
    if not path.exists():
        raise DataError(
            f"file {str(path)!r} does not exist",
            expected="a path to an existing CSV or Parquet file",
            found=f"nothing at {path.resolve()}",
            fix="check the path (is it relative to the current directory?) and try again",
        )
    if path.is_dir():
        raise DataError(
            f"{str(path)!r} is a directory, not a file",
            expected="a path to a single CSV or Parquet file",
            found="a directory",
            fix="point to one file inside it",
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if size == 0:
        raise DataError(
            f"file {str(path)!r} is empty (0 bytes)",
            expected="a table with a header row and at least one data row",
            found="a 0-byte file",
            fix="check that the export finished and wrote the data",
        )
    return suffix


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file (chosen by suffix) into a DataFrame.

    Args:
        path: the file to read.

    Returns:
        The table with a default RangeIndex.

    Raises:
        DataError: the file is missing, empty, of an unsupported type, unreadable, has no rows,
            or has duplicate or blank column names.
    """
    path = Path(path)
    suffix = _checked_path(path)
    if suffix in PARQUET_SUFFIXES:
        df = _read_parquet(path)
    else:
        df = next(_csv_frames(path, "\t" if suffix == ".tsv" else None, None))
    _check_frame(df, path)
    return df


def read_table_chunks(path: str | os.PathLike[str], rows: int = CHUNK_ROWS, *,
                      text_columns: Collection[str] = ()) -> Iterator[pd.DataFrame]:
    """Read a CSV, TSV or Parquet file in chunks of at most ``rows`` rows.

    The same checks and messages as :func:`read_table`, found as the file is read: a file that
    fits in one chunk gives the frame ``read_table`` gives. Types are inferred per chunk (as
    pandas does for large files), so callers coerce each chunk to the schema they expect, or
    read again with ``text_columns``: CSV/TSV columns read as text in every chunk (a column
    whose first chunks hold only numbers but later ones text, which reading the whole file
    gives as text). Parquet columns keep their stored types.

    Raises:
        DataError: as :func:`read_table`; a malformed row is reported when its chunk is read.
    """
    path = Path(path)
    suffix = _checked_path(path)
    frames = (_parquet_frames(path, rows) if suffix in PARQUET_SUFFIXES
              else _csv_frames(path, "\t" if suffix == ".tsv" else None, rows,
                               {name: "str" for name in text_columns}))
    total, width = 0, 0
    for frame in frames:
        if width == 0:
            _check_frame(frame, path, allow_no_rows=True)
            width = frame.shape[1]
        total += len(frame)
        if len(frame):
            yield frame
    if total == 0:
        raise _empty(path, f"a header with {width} columns but no rows")


def _unreadable(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"cannot read {str(path)!r}",
        expected="a readable file",
        found=f"{type(exc).__name__}: {exc}",
        fix="check the file's permissions and that no other program holds it",
    )


def _check_parquet_magic(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if head != _PARQUET_MAGIC:
        raise DataError(
            f"{str(path)!r} is not a Parquet file",
            expected="a Parquet file (it starts with the bytes 'PAR1')",
            found=f"a file starting with {head!r}",
            fix="re-export the table as Parquet, or give it the suffix of its real format",
        )


@contextlib.contextmanager
def _parquet_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except DataError:
        raise
    except PermissionError as exc:
        raise _unreadable(path, exc) from exc
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise DataError(
            f"the Parquet file {str(path)!r} is corrupt or truncated",
            expected="a complete Parquet file",
            found=f"{type(exc).__name__}: {exc}",
            fix="re-export the table; if it was copied, check that the copy finished",
        ) from exc


def _read_parquet(path: Path) -> pd.DataFrame:
    _check_parquet_magic(path)
    with _parquet_errors(path):
        return pd.read_parquet(path)


def _parquet_frames(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    _check_parquet_magic(path)
    with _parquet_errors(path):
        file = pq.ParquetFile(path, **PARQUET_STREAMING)
        _check_header(file.schema_arrow.names, path)
        if file.metadata.num_rows == 0:
            yield file.schema_arrow.empty_table().to_pandas()
            return
        for batch in file.iter_batches(batch_size=rows):
            yield batch.to_pandas()


def _detect_encoding(head: bytes, path: Path) -> str:
    """Pick a text encoding from the first bytes, refusing binary content."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    control = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if b"\x00" in head or control > max(8, len(head) // 100):
        raise DataError(
            f"{str(path)!r} does not look like a text table: it contains binary data",
            expected="a text file with comma- or tab-separated values",
            found="control bytes in the first 64 KiB (a binary, compressed or spreadsheet file?)",
            fix="export the data as CSV (UTF-8) or Parquet; unzip a compressed file first",
        )
    return "utf-8-sig"  # utf-8, with or without a byte-order mark


def _sniff_sep(header_line: str) -> str:
    """Comma unless the header clearly uses another separator."""
    if "," in header_line:
        return ","
    counts = {sep: header_line.count(sep) for sep in (";", "\t", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _read_header(path: Path, encoding: str, sep: str | None) -> tuple[list[str], str]:
    with path.open("r", encoding=encoding, newline="") as handle:
        first_line = handle.readline()
        sep = sep or _sniff_sep(first_line)
        handle.seek(0)
        header = next(csv.reader(handle, delimiter=sep), [])
    return header, sep


def _csv_encoding(path: Path) -> str:
    """UTF-16 (by its byte-order mark), else UTF-8 (BOM or not) if the whole file decodes as
    UTF-8, else Latin-1; binary content is refused."""
    try:
        with path.open("rb") as handle:
            encoding = _detect_encoding(handle.read(_SNIFF_BYTES), path)
            if encoding == "utf-16":
                return encoding
            handle.seek(0)
            decoder = codecs.getincrementaldecoder("utf-8")()
            try:
                while block := handle.read(_DECODE_BLOCK):
                    if not (block.isascii() and not decoder.getstate()[0]):  # ASCII is UTF-8
                        decoder.decode(block)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return "latin-1"
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    return encoding


def _csv_frames(path: Path, sep: str | None, rows: int | None,
                dtype: dict[str, str] | None = None) -> Iterator[pd.DataFrame]:
    """The table in chunks of ``rows`` rows (one frame when None), errors made DataErrors."""
    encoding = _csv_encoding(path)
    try:
        header, used_sep = _read_header(path, encoding, sep)
        _check_header(header, path)
        if rows is None:
            yield pd.read_csv(path, sep=used_sep, encoding=encoding)
            return
        with pd.read_csv(path, sep=used_sep, encoding=encoding, chunksize=rows,
                         dtype=dtype or None) as reader:
            yield from reader
    except DataError:
        raise
    except UnicodeError as exc:
        raise DataError(
            f"cannot decode {str(path)!r} as text",
            expected="a UTF-8 (or Latin-1) encoded text file",
            found=str(exc),
            fix="save the file as UTF-8 CSV",
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise _empty(path, "no header and no rows") from exc
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise _parser_error(path, exc) from exc
    except OSError as exc:
        raise _unreadable(path, exc) from exc


def _parser_error(path: Path, exc: BaseException) -> DataError:
    text = str(exc)
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if match:
        want, line, saw = match.groups()
        return DataError(
            f"{str(path)!r} has a malformed row at line {line}",
            expected=f"{want} fields on every row, like the header",
            found=f"{saw} fields on line {line}",
            fix=f"fix line {line} (an unquoted separator inside a value?) or quote values "
            "that contain the separator",
        )
    return DataError(
        f"cannot parse {str(path)!r} as a delimited table",
        expected="comma- or tab-separated values with a header row",
        found=text.strip() or type(exc).__name__,
        fix="check the file's quoting and separators, or export it as Parquet",
    )


def _empty(path: Path, found: str) -> DataError:
    return DataError(
        f"{str(path)!r} is an empty table",
        expected="a header row and at least one data row",
        found=found,
        fix="check that the export wrote the data rows",
    )


def _check_header(names: list[str], path: Path) -> None:
    blanks = [i + 1 for i, name in enumerate(names) if not str(name).strip()]
    if blanks:
        where = ", ".join(str(i) for i in blanks)
        raise DataError(
            f"{str(path)!r} has columns without a name (column {where})",
            expected="a name for every column in the header row",
            found=f"a blank header in column {where}",
            fix="name every column; a leading unnamed column is usually a saved index: drop it "
            "(pandas: to_csv(index=False))",
        )
    seen: set[str] = set()
    dupes: list[str] = []
    for name in names:
        if name in seen and name not in dupes:
            dupes.append(name)
        seen.add(name)
    if dupes:
        raise DataError(
            f"{str(path)!r} has duplicate column names: " + ", ".join(repr(d) for d in dupes),
            expected="every column name once",
            found=f"{len(names)} columns, {len(set(names))} distinct names",
            fix="rename or drop the repeated columns",
        )


def _check_frame(df: pd.DataFrame, path: Path, *, allow_no_rows: bool = False) -> None:
    if df.shape[1] == 0:
        raise _empty(path, "no columns")
    _check_header([str(c) for c in df.columns], path)
    if len(df) == 0 and not allow_no_rows:
        raise _empty(path, f"a header with {df.shape[1]} columns but no rows")


def parquet_bytes_to_table(data: bytes) -> pd.DataFrame:
    """Read Parquet bytes (as written by :func:`table_to_parquet_bytes`) into a frame."""
    try:
        return pq.read_table(pa.BufferReader(data)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(
            "the stored table is not valid Parquet",
            expected="bytes written by table_to_parquet_bytes",
            found=f"{type(exc).__name__}: {exc}",
            fix="re-create the dataset version from its source file",
        ) from exc


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a frame as CSV, TSV or Parquet (chosen by suffix), atomically.

    The file is written under a temporary name in the same directory and renamed into place, so
    a reader never sees a half-written table.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.parent.is_dir():
        raise DataError(
            f"cannot write {str(path)!r}: the directory {str(path.parent)!r} does not exist",
            expected="an existing directory",
            found=f"no directory at {path.parent.resolve()}",
            fix="create the directory first or choose another path",
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if suffix in PARQUET_SUFFIXES:
                handle.write(table_to_parquet_bytes(df))
            else:
                df.to_csv(handle, index=False, sep="\t" if suffix == ".tsv" else ",",
                          encoding="utf-8")
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DataError(
                f"cannot write {str(path)!r}",
                expected="a writable location",
                found=f"{type(exc).__name__}: {exc}",
                fix="check the directory's permissions and free space",
            ) from exc
        raise
