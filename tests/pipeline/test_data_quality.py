"""Schemas, quality reports and new batches through the CLI, on the flights data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlpilot.cli.main import main
from mlpilot.pipeline.workspace import Workspace


@pytest.fixture
def cli(home, capsys):
    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())

    return call


@pytest.fixture
def flights_project(cli, tmp_path, flights_slice) -> Path:
    """Project `flights` created from the first 3,000 rows of the slice."""
    data = tmp_path / "flights.parquet"
    flights_slice.iloc[:3000].to_parquet(data)
    code, _, err = cli("project", "create", "flights", "--data", str(data), "--target",
                       "delayed", "--time-column", "time_hour")
    assert code == 0, err
    return tmp_path


@pytest.fixture
def april_batch(flights_project, flights_slice) -> Path:
    """The last 2,000 rows of the slice (March), with one unseen carrier code."""
    batch = flights_slice.iloc[3000:].copy()
    batch.loc[batch.index[:4], "carrier"] = "ZZ"
    path = flights_project / "batch.csv"
    batch.to_csv(path, index=False)
    return path


def test_creation_stores_schema_v1_and_a_quality_report(cli, flights_project):
    code, out, _ = cli("data", "report", "flights", "--json")
    report = json.loads(out)
    assert code == 0 and report["dataset_version"] == 1 and report["schema_version"] == 1
    assert {(f["check"], f["column"]) for f in report["findings"]} >= {("constant", "year")}
    code, out, _ = cli("schema", "show", "flights", "--json")
    shown = json.loads(out)
    assert shown["version"] == 1 and shown["versions"][0]["origin"] == "inferred"
    assert cli("data", "report", "flights", "7")[0] != 0


def test_ingest_accepts_a_batch_with_warnings_as_a_new_version(cli, april_batch):
    code, out, _ = cli("data", "ingest", "flights", "--data", str(april_batch), "--json")
    result = json.loads(out)
    assert code == 0 and result["accepted"] and result["dataset_version"] == 2
    assert isinstance(result["drift_detected"], bool)
    assert any(f["check"] == "new_category" and f["column"] == "carrier" and "'ZZ'" in
               f["message"] for f in result["findings"])
    assert any(c["column"] == "month" and c["drifted"] for c in result["drift"]["columns"])
    project = Workspace().project("flights")
    assert project.dataset()["rows"] == 5000
    code, out, _ = cli("data", "report", "flights", "2", "--json")
    assert json.loads(out)["n_rows"] == 5000


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.drop(columns=["origin"]), r"origin: required column missing"),
    (lambda b: b.drop(columns=["delayed"]), r"delayed: the target column is missing"),
    (lambda b: b.assign(distance=["far", *list(b["distance"][1:])]),
     r"distance: expects whole numbers .* e\.g\. 'far'"),
])
def test_ingest_rejects_blocking_anomalies_and_makes_no_version(
        cli, flights_project, flights_slice, change, message):
    path = flights_project / "bad.csv"
    change(flights_slice.iloc[3000:3500].copy()).to_csv(path, index=False)
    code, out, err = cli("data", "ingest", "flights", "--data", str(path), "--json")
    assert code == 2
    assert json.loads(out)["accepted"] is False and json.loads(out)["dataset_version"] is None
    assert re.search(message, err), err
    ws = Workspace()
    assert ws.project("flights").dataset()["version"] == 1
    assert ws.events("flights")[-1]["action"] == "dataset.rejected"


def test_schema_edit_makes_a_new_version_and_checks_the_data(cli, flights_project):
    _, text, _ = cli("schema", "show", "flights", "--yaml")
    edited = flights_project / "schema.yaml"
    edited.write_text(text.replace("  flight:\n    kind: integer",
                                   "  flight:\n    kind: categorical"))
    code, out, err = cli("schema", "edit", "flights", "--file", str(edited), "--note",
                         "flight is a code", "--json")
    assert code == 0, err and json.loads(out)["version"] == 2
    project = Workspace().project("flights")
    assert str(project.schema.column("flight").kind) == "categorical"
    assert project.dataset()["version"] == 2  # the same table under the edited schema
    wrong = flights_project / "wrong.yaml"
    wrong.write_text(text.replace("  carrier:\n    kind: categorical",
                                  "  carrier:\n    kind: numeric"))
    code, _, err = cli("schema", "edit", "flights", "--file", str(wrong))
    assert code != 0 and "does not fit the edited schema" in err and "carrier" in err
    broken = flights_project / "broken.yaml"
    broken.write_text("columns: [unclosed\n")
    code, _, err = cli("schema", "edit", "flights", "--file", str(broken))
    assert code != 0 and "does not parse at line" in err
    code, _, err = cli("schema", "edit", "flights", "--file", str(edited))
    assert code != 0 and "same as the current one" in err


def test_a_run_records_the_quality_summary_and_the_split_check(cli, flights_project):
    assert cli("project", "approve", "flights", "--time", "30s", "--cpus", "1")[0] == 0
    code, _, err = cli("run", "flights", "--max-trials", "2")
    assert code == 0, err
    code, out, _ = cli("run", "show", "flights", "--json")
    split = json.loads(out)["split"]
    assert split["data_quality"]["counts"]["warning"] >= 1
    assert "time_hour" in split["split_check"]["drifted"]["test"]  # time-ordered split


def test_a_training_batch_without_the_target_says_how_to_score_instead(
        cli, flights_project, flights_slice):
    path = flights_project / "unlabelled.csv"
    flights_slice.iloc[3000:3200].drop(columns=["delayed"]).to_csv(path, index=False)
    code, _, err = cli("data", "ingest", "flights", "--data", str(path))
    assert code == 2
    assert "delayed: the target column is missing: training data needs it" in err
    assert "to score rows without a target use `mlpilot predict`" in err
    assert Workspace().project("flights").dataset()["version"] == 1


def _create_and_run(cli, name: str, data: Path, time_column: str, *,
                    trials: int) -> tuple[str, str]:
    """Create a project on the flights ``data`` told its ``time_column``, approve 30 s on one
    CPU and run ``trials`` trials; the run's output and errors."""
    code, _, err = cli("project", "create", name, "--data", str(data), "--target", "delayed",
                       "--time-column", time_column)
    assert code == 0, err
    assert cli("project", "approve", name, "--time", "30s", "--cpus", "1")[0] == 0
    code, out, err = cli("run", name, "--max-trials", str(trials))
    assert code == 0, err
    return out, err


def test_an_integer_period_as_time_column_makes_the_run_time_ordered(cli, tmp_path,
                                                                       flights_slice):
    data = tmp_path / "months.parquet"
    flights_slice.to_parquet(data)
    out, err = _create_and_run(cli, "months", data, "month", trials=2)
    assert "time-ordered by 'month'" in out + err  # the split stage says how it split
    code, out, _ = cli("run", "show", "months", "--json")
    assert json.loads(out)["split"]["method"] == "time-ordered"
    code, out, _ = cli("model", "show", "months", "1", "--json")
    lineage = json.loads(out)["lineage"]
    assert lineage["split"]["method"] == "time-ordered"
    assert lineage["validation"]["kind"] == "holdout"  # no shuffled folds across the months
    code, _, err = cli("project", "create", "hours", "--data", str(data), "--target",
                       "delayed", "--time-column", "carrier")
    assert code != 0 and "integers that count periods" in err


def test_a_csv_with_its_time_column_as_text_runs_and_drops_its_clocks(cli, tmp_path,
                                                                      flights_slice):
    """A CSV holds its datetimes as text: the split check reads them as the schema does (it
    used to fail converting '2013-01-01 05:00:00' to a number), and the search checks the
    day of year, a clock on the later validation rows, like any time-ordered table."""
    data = tmp_path / "flights.csv"
    flights_slice.to_csv(data, index=False)
    _create_and_run(cli, "csv", data, "time_hour", trials=3)
    code, out, err = cli("run", "show", "csv", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert "time_hour" in shown["split"]["split_check"]["drifted"]["test"]
    trials = Workspace().project("csv").leaderboard()
    check = next(t for t in trials if t.number == 2)
    assert check.params["_dropped_features"] == ["time_hour__dayofyear"]
