"""Reading and writing tables: real files, and every way a file can be wrong."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.core.errors import DataError
from mlpilot.data import sources
from mlpilot.data.sources import (
    parquet_bytes_to_table,
    read_table,
    read_table_chunks,
    table_to_parquet_bytes,
    write_table,
)

FLIGHTS = Path(__file__).parents[2] / "examples" / "flights_sample.parquet"


def test_reads_the_flights_parquet(flights):
    df = read_table(FLIGHTS)
    assert df.shape == (50_000, 15)
    assert df.equals(flights)


@pytest.mark.parametrize("name", ["flights.csv", "flights.TSV", "flights.parquet", "flights.pq"])
def test_write_then_read_round_trips(flights_small, tmp_path, name):
    path = tmp_path / name
    write_table(flights_small, path)
    back = read_table(path)
    assert list(back.columns) == list(flights_small.columns)
    assert len(back) == len(flights_small)
    assert back["distance"].tolist() == flights_small["distance"].tolist()
    assert back["carrier"].tolist() == flights_small["carrier"].tolist()
    assert not list(tmp_path.glob(".*.tmp")), "the temporary file was left behind"


def test_write_replaces_an_existing_file_atomically(flights_small, tmp_path):
    path = tmp_path / "t.parquet"
    write_table(flights_small.iloc[:10], path)
    write_table(flights_small.iloc[:20], path)
    assert len(read_table(path)) == 20
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_canonical_parquet_bytes_are_identical_across_calls(flights_small):
    first = table_to_parquet_bytes(flights_small)
    assert first == table_to_parquet_bytes(flights_small.copy())
    # the index is not part of the content
    shuffled_index = flights_small.set_axis(range(5000, 7000))
    assert table_to_parquet_bytes(shuffled_index) == first
    assert parquet_bytes_to_table(first).equals(flights_small)


def test_canonical_parquet_bytes_are_identical_across_processes(tmp_path):
    script = (
        "import sys, hashlib, pandas as pd\n"
        "from mlpilot.data.sources import table_to_parquet_bytes\n"
        f"df = pd.read_parquet({str(FLIGHTS)!r}).iloc[:3000]\n"
        "print(hashlib.sha256(table_to_parquet_bytes(df)).hexdigest())\n"
    )
    digests = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True).stdout.strip() for _ in range(2)}
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_different_tables_give_different_bytes(flights_small):
    changed = flights_small.copy()
    changed.loc[0, "distance"] = 1
    assert table_to_parquet_bytes(changed) != table_to_parquet_bytes(flights_small)


def test_bom_is_stripped_from_the_first_column_name(write_text):
    path = write_text("bom.csv", "\ufeffcarrier,distance\nUA,1400\nAA,1089\n")
    df = read_table(path)
    assert list(df.columns) == ["carrier", "distance"]


def test_latin1_file_is_read(write_text):
    path = write_text("latin.csv", "city,n\nZürich,1\nMünchen,2\n", encoding="latin-1")
    assert read_table(path)["city"].tolist() == ["Zürich", "München"]


def test_utf16_file_is_read(write_text):
    path = write_text("u16.csv", "city,n\nLyon,1\nParis,2\n", encoding="utf-16")
    assert read_table(path)["city"].tolist() == ["Lyon", "Paris"]


def test_semicolon_separated_csv_is_read(write_text):
    path = write_text("semi.csv", "carrier;distance\nUA;1400\nAA;1089\n")
    assert read_table(path)["distance"].tolist() == [1400, 1089]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv.* does not exist.*check the path"):
        read_table(tmp_path / "nope.csv")


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"is a directory"):
        read_table(folder)


def test_unsupported_suffix(write_text):
    path = write_text("book.xlsx", "x")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'.*CSV or Parquet"):
        read_table(path)


def test_zero_byte_file(write_text):
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        read_table(write_text("empty.csv", b""))


def test_header_only_is_an_empty_table(write_text):
    with pytest.raises(DataError, match=r"empty table.*header with 3 columns but no rows"):
        read_table(write_text("header.csv", "carrier,distance,delayed\n"))


def test_blank_lines_only_is_an_empty_table(write_text):
    with pytest.raises(DataError, match=r"empty table"):
        read_table(write_text("blank.csv", "\n\n\n"))


def test_garbled_binary_csv(write_text, flights_small):
    compressed = gzip.compress(flights_small.to_csv(index=False).encode(), mtime=0)
    with pytest.raises(DataError, match=r"does not look like a text table.*binary"):
        read_table(write_text("flights.csv", compressed))


def test_ragged_rows_report_the_line(write_text):
    path = write_text("ragged.csv", "carrier,distance\nUA,1400\nAA,1089,extra\nB6,300\n")
    with pytest.raises(DataError, match=r"malformed row at line 3.*2 fields.*3 fields"):
        read_table(path)


def test_duplicate_column_names(write_text):
    path = write_text("dupes.csv", "carrier,distance,carrier\nUA,1400,AA\n")
    with pytest.raises(DataError, match=r"duplicate column names: 'carrier'"):
        read_table(path)


def test_blank_column_name_from_a_saved_index(write_text, flights_small):
    path = write_text("indexed.csv", flights_small.iloc[:5].to_csv())
    with pytest.raises(DataError, match=r"columns without a name \(column 1\).*saved index"):
        read_table(path)


def test_corrupt_parquet(flights_small, write_text):
    data = table_to_parquet_bytes(flights_small)
    truncated = data[:4] + data[4: len(data) // 2]
    with pytest.raises(DataError, match=r"Parquet file .* is corrupt or truncated"):
        read_table(write_text("cut.parquet", truncated))


def test_csv_named_as_parquet(write_text):
    with pytest.raises(DataError, match=r"is not a Parquet file"):
        read_table(write_text("table.parquet", "a,b\n1,2\n"))


def test_parquet_with_no_rows(flights_small, tmp_path):
    path = tmp_path / "none.parquet"
    write_table(flights_small.iloc[:0], path)
    with pytest.raises(DataError, match=r"empty table.*no rows"):
        read_table(path)


def test_parquet_bytes_that_are_not_parquet():
    with pytest.raises(DataError, match=r"not valid Parquet"):
        parquet_bytes_to_table(b"definitely not parquet")


def test_write_unsupported_suffix(flights_small, tmp_path):
    with pytest.raises(DataError, match=r"unsupported file type '.json'"):
        write_table(flights_small, tmp_path / "t.json")


def test_write_into_missing_directory(flights_small, tmp_path):
    with pytest.raises(DataError, match=r"directory .* does not exist"):
        write_table(flights_small, tmp_path / "no" / "t.csv")


def test_mixed_types_cannot_become_parquet():
    df = pd.DataFrame({"x": [1, "a", 2.5]}, dtype=object)
    with pytest.raises(DataError, match=r"cannot be stored as Parquet"):
        table_to_parquet_bytes(df)


# --- reading in chunks ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["flights.csv", "flights.tsv", "flights.parquet"])
def test_chunks_of_a_file_are_the_table_read_whole(flights_small, tmp_path, name):
    path = tmp_path / name
    if name.endswith(".parquet"):
        flights_small.to_parquet(path, row_group_size=700)
    else:
        write_table(flights_small, path)
    chunks = list(read_table_chunks(path, rows=512))
    assert [len(c) for c in chunks] == [512, 512, 512, 464]
    whole = read_table(path)
    assert pd.concat(chunks, ignore_index=True).equals(whole)
    assert next(read_table_chunks(path, rows=5000)).equals(whole)


def test_a_character_split_across_decode_blocks_is_still_utf8(write_text, monkeypatch):
    monkeypatch.setattr(sources, "_DECODE_BLOCK", 20)  # the first block ends inside "ü"
    path = write_text("a.csv", "city,label\n" + "Lyon,1\nZürich,0\n" * 3)
    assert set(next(read_table_chunks(path))["city"]) == {"Lyon", "Zürich"}


def test_a_latin1_byte_far_down_makes_the_whole_file_latin1(write_text):
    rows = "city,label\n" + "Lyon,1\n" * 40_000
    path = write_text("a.csv", rows.encode() + "Sète,0\n".encode("latin-1"))
    chunks = list(read_table_chunks(path, rows=10_000))
    assert len(chunks) == 5 and chunks[-1]["city"].iloc[-1] == "Sète"


@pytest.mark.parametrize(("content", "message"), [
    ("a,b\n", r"empty table.*header with 2 columns but no rows"),
    ("a,a\n1,2\n", r"duplicate column names: 'a'"),
    ("a,b\n" + "1,2\n" * 3000 + "1,2,3\n", r"malformed row at line 3002"),
])
def test_chunked_reading_refuses_like_read_table(write_text, content, message):
    path = write_text("a.csv", content)
    with pytest.raises(DataError, match=message):
        list(read_table_chunks(path, rows=1000))
