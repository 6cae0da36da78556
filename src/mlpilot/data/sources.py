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

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlpilot.core.errors import DataError

CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
_SNIFF_BYTES = 1 << 16
_PARQUET_MAGIC = b"PAR1"
# Metadata keys in the pandas schema block that vary with library versions, not with the data.
_VOLATILE_PANDAS_KEYS = ("creator", "pandas_version")


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
    if suffix in PARQUET_SUFFIXES:
        df = _read_parquet(path)
    else:
        df = _read_csv(path, sep="\t" if suffix == ".tsv" else None)
    _check_frame(df, path)
    return df


def _unreadable(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"cannot read {str(path)!r}",
        expected="a readable file",
        found=f"{type(exc).__name__}: {exc}",
        fix="check the file's permissions and that no other program holds it",
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
        if head != _PARQUET_MAGIC:
            raise DataError(
                f"{str(path)!r} is not a Parquet file",
                expected="a Parquet file (it starts with the bytes 'PAR1')",
                found=f"a file starting with {head!r}",
                fix="re-export the table as Parquet, or give it the suffix of its real format",
            )
        return pd.read_parquet(path)
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


def _read_csv(path: Path, sep: str | None) -> pd.DataFrame:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    encoding = _detect_encoding(head, path)
    for attempt in (encoding, "latin-1"):
        try:
            header, used_sep = _read_header(path, attempt, sep)
            df = pd.read_csv(path, sep=used_sep, encoding=attempt)
            break
        except UnicodeError as exc:
            if attempt == "latin-1" or encoding == "utf-16":
                raise DataError(
                    f"cannot decode {str(path)!r} as text",
                    expected="a UTF-8 (or Latin-1) encoded text file",
                    found=str(exc),
                    fix="save the file as UTF-8 CSV",
                ) from exc
        except pd.errors.EmptyDataError as exc:
            raise _empty(path, "no header and no rows") from exc
        except pd.errors.ParserError as exc:
            raise _parser_error(path, exc) from exc
        except (csv.Error, ValueError) as exc:
            raise _parser_error(path, exc) from exc
        except OSError as exc:
            raise _unreadable(path, exc) from exc
    _check_header(header, path)
    return df


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


def _check_frame(df: pd.DataFrame, path: Path) -> None:
    if df.shape[1] == 0:
        raise _empty(path, "no columns")
    _check_header([str(c) for c in df.columns], path)
    if len(df) == 0:
        raise _empty(path, f"a header with {df.shape[1]} columns but no rows")


def _canonical_metadata(table: pa.Table) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    raw = meta.get(b"pandas")
    if raw is not None:
        info = json.loads(raw)
        for key in _VOLATILE_PANDAS_KEYS:
            info.pop(key, None)
        meta[b"pandas"] = json.dumps(info, sort_keys=True, separators=(",", ":")).encode()
    return table.replace_schema_metadata(meta)


def table_to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Canonical Parquet bytes of a frame: the same frame always gives the same bytes.

    The index is dropped, compression is fixed (zstd) and version stamps are removed from the
    pandas metadata, so the bytes depend on the data and column types only (and the Parquet
    writer's own version, recorded in the footer).

    Raises:
        DataError: a column holds values Parquet cannot store (mixed Python types).
    """
    frame = df.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(
            "the table cannot be stored as Parquet",
            expected="columns of one type each (numbers, strings, booleans, dates)",
            found=f"{type(exc).__name__}: {exc}",
            fix="convert mixed-type columns to one type (for example astype(str))",
        ) from exc
    table = _canonical_metadata(table)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", compression_level=3,
                   use_dictionary=True, write_statistics=True)
    return buffer.getvalue()


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
