"""A corpus of malformed and hostile files fed to `project create` and `data ingest`: each is
either read correctly or refused with a specific message, never a traceback, and a refused file
leaves nothing behind (no project, no dataset version, no object); after an ingest the
workspace still verifies (`mlpilot audit verify`)."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.cli.main import main
from mlpilot.data.sources import read_table
from mlpilot.pipeline.workspace import Workspace

GOOD = "city,amount,label\nBoston,12.5,1\nLyon,3,0\nOslo,7.25,1\nLima,1,0\n"


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


GOOD_FRAME = pd.read_csv(io.StringIO(GOOD))

Check = Callable[[pd.DataFrame], bool]
# name -> (file name, content, None for "read it" or the regex of the refusal, check of the table)
CORPUS: dict[str, tuple[str, bytes, str | None, Check | None]] = {
    "semicolon delimiter": ("a.csv", GOOD.replace(",", ";").encode(), None,
                            lambda t: list(t.columns) == ["city", "amount", "label"]),
    "tab delimiter in .csv": ("a.csv", GOOD.replace(",", "\t").encode(), None,
                              lambda t: t["amount"].iloc[0] == 12.5),
    "pipe delimiter": ("a.csv", GOOD.replace(",", "|").encode(), None,
                       lambda t: len(t) == 4),
    "tsv suffix": ("a.tsv", GOOD.replace(",", "\t").encode(), None, lambda t: len(t) == 4),
    "latin-1": ("a.csv", GOOD.replace("Lyon", "Montréal").encode("latin-1"), None,
                lambda t: "Montréal" in set(t["city"])),
    "mixed encodings": ("a.csv", GOOD.replace("Lyon", "Zürich").encode()
                        + "Sète,2,1\n".encode("latin-1"), None, lambda t: len(t) == 5),
    "utf-8 byte-order mark": ("a.csv", b"\xef\xbb\xbf" + GOOD.encode(), None,
                              lambda t: t.columns[0] == "city"),
    "utf-16 with BOM": ("a.csv", GOOD.encode("utf-16"), None, lambda t: len(t) == 4),
    "CRLF line ends": ("a.csv", GOOD.replace("\n", "\r\n").encode(), None,
                       lambda t: t["label"].tolist() == [1, 0, 1, 0]),
    "no final newline": ("a.csv", GOOD.rstrip("\n").encode(), None, lambda t: len(t) == 4),
    "quoted newlines": ("a.csv", GOOD.replace("Oslo", '"Oslo\nNorway"').encode(), None,
                        lambda t: "Oslo\nNorway" in set(t["city"])),
    "quoted separators": ("a.csv", GOOD.replace("Lima", '"Lima, Peru"').encode(), None,
                          lambda t: "Lima, Peru" in set(t["city"])),
    "NaN and inf strings": ("a.csv", GOOD.replace("12.5", "NaN").replace("7.25", "inf")
                            .encode(), None, lambda t: t["amount"].isna().sum() == 1),
    "thousands separators": ("a.csv", GOOD.replace("12.5", '"1,234"').encode(), None,
                             lambda t: "1,234" in set(t["amount"].astype(str))),
    "dates in several formats": ("a.csv", b"when,label\n2024-01-05,1\n05/01/2024,0\n"
                                 b"Jan 5 2024,1\n2024-01-05T10:00,0\n", None,
                                 lambda t: len(t) == 4),
    "a huge field": ("a.csv", f"city,amount,label\n{'x' * 3_000_000},1,1\nLyon,2,0\n"
                     "Oslo,3,1\n".encode(), None, lambda t: len(t["city"].iloc[0]) == 3_000_000),
    "very wide": ("a.csv", (",".join(f"c{i}" for i in range(1500)) + ",label\n"
                            + ",".join("1" for _ in range(1500)) + ",1\n"
                            + ",".join("2" for _ in range(1500)) + ",0\n").encode(), None,
                  lambda t: t.shape == (2, 1501)),
    "text late in a numeric column": ("a.csv", ("city,amount,label\n" + "Lyon,3,0\n" * 49_999
                                                + "Oslo,unknown,1\n").encode(), None,
                                      lambda t: len(t) == 50_000),
    "0-byte file": ("a.csv", b"", r"empty \(0 bytes\)", None),
    "malformed row far down": ("a.csv", ("city,amount,label\n" + "Lyon,3,0\n" * 49_999
                                         + "Oslo,1,0,9\n").encode(),
                               r"malformed row at line 50001", None),
    "header only": ("a.csv", b"city,amount,label\n", r"empty table.*no rows", None),
    "blank lines only": ("a.csv", b"\n\n\n", r"empty table", None),
    "ragged rows": ("a.csv", (GOOD + "Rome,1,0,extra\n").encode(), r"malformed row at line 6",
                    None),
    "unbalanced quote": ("a.csv", (GOOD + '"Rome,1,0\n').encode(), r"cannot parse", None),
    "duplicate column names": ("a.csv", b"city,city,label\na,b,1\nc,d,0\n",
                               r"duplicate column names: 'city'", None),
    "blank column name": ("a.csv", b",city,label\n0,a,1\n1,b,0\n", r"columns without a name",
                          None),
    "Excel file renamed .csv": ("a.csv", _xlsx(), r"binary data", None),
    "gzip renamed .csv": ("a.csv", gzip.compress(GOOD.encode()), r"binary data", None),
    "parquet renamed .csv": ("a.csv", _parquet(GOOD_FRAME), r"binary data", None),
    "binary garbage": ("a.csv", bytes(range(256)) * 64, r"binary data", None),
    "NUL bytes inside text": ("a.csv", GOOD.encode().replace(b"Lyon", b"Ly\x00on"),
                              r"binary data", None),
    "CSV renamed .parquet": ("a.parquet", GOOD.encode(), r"is not a Parquet file", None),
    "truncated parquet": ("a.parquet", _parquet(GOOD_FRAME)[:300], r"corrupt or truncated",
                          None),
    "Excel suffix": ("a.xlsx", _xlsx(), r"unsupported file type '\.xlsx'", None),
    "HTML error page saved as CSV": ("a.csv", b"<html>\n<body>502 Bad Gateway</body>\n</html>\n",
                                     r"target column 'label' is not a column", None),
    "JSON renamed .csv": ("a.csv", b'[\n  {"city": "Boston", "label": 1}\n]\n',
                          r"target column 'label' is not a column", None),
}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def _nothing_written(home: Path) -> bool:
    ws = Workspace(home)
    objects = home / "objects"
    return (ws.projects() == [] and ws.events() == []
            and (not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))))


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_create_reads_or_refuses_clearly(case, home, tmp_path, capsys):
    name, content, refusal, check = CORPUS[case]
    path = tmp_path / name
    path.write_bytes(content)
    target = "label"
    code, out, err = _cli(capsys, "project", "create", "p", "--data", str(path), "--target",
                          target, "--task", "regression", "--json")
    assert "Traceback" not in out + err
    if refusal is None:
        assert code == 0, err
        assert check(read_table(path))
    else:
        assert code != 0 and "Fix:" in err
        assert re.search(refusal, err), err
        assert _nothing_written(home)


# What `data ingest` does with each file of the corpus, into a project made from GOOD: the
# refusals above (the file cannot be read as a table) refuse the same way; files read as a
# table are either accepted as a new dataset version or rejected by a blocking anomaly
# (exit 2, the report stored, no version).
INGEST: dict[str, str | None] = {
    "thousands separators": r"amount: expects numbers .* e\.g\. '1,234'",
    "text late in a numeric column": r"amount: expects numbers .* 1 value is not, e\.g\. "
                                     r"'unknown'",
    "dates in several formats": r"city: required column missing; amount: required column",
    "very wide": r"city: required column missing",
    "HTML error page saved as CSV": r"label: the target column is missing: training data",
    "JSON renamed .csv": r"city: required column missing",
}


@pytest.fixture
def good_project(home, tmp_path, capsys) -> Path:
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    code, _, err = _cli(capsys, "project", "create", "p", "--data", str(path), "--target",
                        "label", "--task", "regression")
    assert code == 0, err
    return home


def _objects(home: Path) -> list[Path]:
    return sorted(p for p in (home / "objects").rglob("*") if p.is_file())


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_ingest_reads_or_refuses_clearly_and_keeps_the_workspace_consistent(
        case, good_project, tmp_path, capsys):
    home = good_project
    name, content, refusal, _ = CORPUS[case]
    path = tmp_path / name
    path.write_bytes(content)
    events, objects = len(Workspace(home).events()), _objects(home)
    code, out, err = _cli(capsys, "data", "ingest", "p", "--data", str(path), "--json")
    assert "Traceback" not in out + err
    project = Workspace(home).project("p")
    actions = [e["action"] for e in Workspace(home).events()]
    if case in INGEST:  # a table, rejected: the report is stored, no version is made
        assert code == 2 and json.loads(out)["accepted"] is False, err
        assert re.search(INGEST[case], err), err
        assert project.dataset()["version"] == 1 and actions[-1] == "dataset.rejected"
    elif refusal is not None:  # not a table: nothing recorded at all
        assert code not in (0, 2) and "Fix:" in err
        assert re.search(refusal, err), err
        assert project.dataset()["version"] == 1
        assert len(actions) == events and _objects(home) == objects
    else:
        assert code == 0, err
        assert json.loads(out)["accepted"] is True
        assert project.dataset()["version"] == 2
        assert project.dataset()["rows"] == 4 + len(read_table(path))
        assert actions[-1] == "dataset.ingested"
    assert not list(home.glob(".ingest-*"))
    code, out, err = _cli(capsys, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"], out + err
