"""Bad input: each case a clear message naming the problem and the fix, a non-zero exit, and
nothing written to the workspace."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlpilot.cli.main import main
from mlpilot.pipeline.workspace import Workspace


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def assert_nothing_written(home: Path) -> None:
    ws = Workspace(home)
    assert ws.projects() == []
    assert ws.events() == []
    objects = home / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


@pytest.fixture
def flights_csv(tmp_path, flights_slice) -> Path:
    path = tmp_path / "flights.csv"
    flights_slice.iloc[:600].to_csv(path, index=False)
    return path


def create(capsys, data: Path, target: str = "delayed", name: str = "flights"):
    return run_cli(capsys, "project", "create", name, "--data", str(data), "--target", target)


def test_missing_file(home, tmp_path, capsys):
    code, _, err = create(capsys, tmp_path / "nope.csv")
    assert code != 0 and "nope.csv" in err and "Fix:" in err
    assert_nothing_written(home)


def test_garbled_csv(home, tmp_path, capsys):
    path = tmp_path / "garbled.csv"
    path.write_bytes(bytes(range(256)) * 40)
    code, _, err = create(capsys, path)
    assert code != 0 and "garbled.csv" in err and "Fix:" in err
    assert "Traceback" not in err
    assert_nothing_written(home)


def test_empty_table(home, tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("carrier,origin,delayed\n")
    code, _, err = create(capsys, path)
    assert code != 0 and "empty" in err.lower()
    assert_nothing_written(home)


def test_target_absent_suggests_the_closest_names(home, flights_csv, capsys):
    code, _, err = create(capsys, flights_csv, target="dlayed")
    assert code != 0 and "'dlayed'" in err and "delayed" in err
    assert_nothing_written(home)


def test_target_all_missing(home, tmp_path, flights_slice, capsys):
    path = tmp_path / "nolabels.parquet"
    frame = flights_slice.iloc[:300].copy()
    frame["delayed"] = pd.Series([None] * len(frame), dtype="float64")
    frame.to_parquet(path)
    code, _, err = create(capsys, path)
    assert code != 0 and "missing" in err.lower() and "delayed" in err
    assert_nothing_written(home)


def test_single_class(home, tmp_path, flights_slice, capsys):
    path = tmp_path / "oneclass.csv"
    frame = flights_slice.iloc[:300].copy()
    frame["delayed"] = 1
    frame.to_csv(path, index=False)
    code, _, err = create(capsys, path, name="oneclass")
    assert code != 0 and "class" in err.lower() and "Fix:" in err
    assert_nothing_written(home)


def test_a_project_name_that_exists(home, flights_csv, capsys):
    assert create(capsys, flights_csv)[0] == 0
    before = Workspace(home).events()
    code, _, err = create(capsys, flights_csv)
    assert code != 0 and "already exists" in err
    assert Workspace(home).events() == before
    assert len(Workspace(home).projects()) == 1


def test_run_without_approval(home, flights_csv, capsys):
    assert create(capsys, flights_csv)[0] == 0
    code, _, err = run_cli(capsys, "run", "flights")
    assert code != 0 and "no approved budget" in err
    assert "mlpilot project approve flights" in err
    assert Workspace(home).project("flights").runs() == []


def test_unknown_project(home, flights_csv, capsys):
    assert create(capsys, flights_csv)[0] == 0
    for args in (("project", "show", "flight"), ("run", "flight"), ("model", "list", "flight"),
                 ("leaderboard", "flight")):
        code, _, err = run_cli(capsys, *args)
        assert code != 0 and "unknown project 'flight'" in err and "did you mean 'flights'" in err


def test_invalid_budget_is_refused(home, flights_csv, capsys):
    assert create(capsys, flights_csv)[0] == 0
    code, _, err = run_cli(capsys, "project", "approve", "flights", "--time", "soon")
    assert code != 0 and "duration" in err and "5m" in err
    assert Workspace(home).project("flights").approved_budget is None


@pytest.mark.parametrize("args, message", [
    (["bogus"], "No such command 'bogus'"),
    (["run", "--bogus"], "No such option: --bogus"),
])
def test_an_unknown_command_or_option_is_a_usage_error_not_a_traceback(home, capsys, args,
                                                                       message):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and message in err and "Try 'mlpilot" in err
    assert "Traceback" not in out + err
