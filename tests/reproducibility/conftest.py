"""A workspace where `flights` (3,000 rows) was run once with a trial-count budget."""

from __future__ import annotations

import shutil

import pytest

from mlpilot.cli.main import main


@pytest.fixture(scope="session")
def recorded(tmp_path_factory, flights_frame):
    """(home, run id): project created, budget approved, one run of 5 trials."""
    root = tmp_path_factory.mktemp("repro")
    home, data = root / "ws", root / "flights.parquet"
    flights_frame.iloc[::16].reset_index(drop=True).iloc[:3000].to_parquet(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLPILOT_HOME", str(home))
        mp.setenv("MLPILOT_ACTOR", "ana")
        mp.delenv("MLPILOT_DB", raising=False)
        assert main(["project", "create", "flights", "--data", str(data), "--target",
                     "delayed", "--time-column", "time_hour"]) == 0
        assert main(["project", "approve", "flights", "--time", "30s", "--cpus", "2"]) == 0
        assert main(["run", "flights", "--max-trials", "5", "--json"]) == 0
    from mlpilot.pipeline.workspace import Workspace

    ws = Workspace(home)
    run_id = ws.project("flights").runs()[0].id
    ws.close()
    return home, run_id


@pytest.fixture
def cli(monkeypatch, capsys):
    """Call the CLI in a given workspace: (code, stdout, stderr as one line)."""

    def call(home, *args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("MLPILOT_HOME", str(home))
        monkeypatch.setenv("MLPILOT_ACTOR", "ana")
        monkeypatch.delenv("MLPILOT_DB", raising=False)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())

    return call


@pytest.fixture
def copy_of(recorded, tmp_path):
    """A private copy of the recorded workspace, to tamper with."""
    home, run_id = recorded
    target = tmp_path / "copy"
    shutil.copytree(home, target)
    return target, run_id

