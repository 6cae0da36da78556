"""The spine end to end through the CLI: create, approve, run, leaderboard, registry, predict,
serve; on a real 5,000-row slice of the flights sample."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlpilot.cli.main import main
from mlpilot.pipeline.final_fit import HURTS_SHARE
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server.app import create_app
from mlpilot.server.config import ServeConfig

MAX_TRIALS = "8"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, flights_slice):
    """A workspace where `flights` was created, approved and run once (model v1)."""
    root = tmp_path_factory.mktemp("spine")
    home, data = root / "ws", root / "flights.parquet"
    flights_slice.to_parquet(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLPILOT_HOME", str(home))
        mp.setenv("MLPILOT_ACTOR", "ana")
        mp.delenv("MLPILOT_DB", raising=False)
        assert main(["project", "create", "flights", "--data", str(data), "--target", "delayed",
                     "--time-column", "time_hour"]) == 0
        assert main(["project", "approve", "flights", "--time", "300s", "--cpus", "2"]) == 0
        assert main(["run", "flights", "--max-trials", MAX_TRIALS]) == 0
        yield home, data


@pytest.fixture
def cli(trained, monkeypatch, capsys):
    home, _ = trained
    monkeypatch.setenv("MLPILOT_HOME", str(home))
    monkeypatch.setenv("MLPILOT_ACTOR", "ana")

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())

    return call


def json_of(cli, *args: str):
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_project_show_reports_the_detected_problem(cli):
    info = json_of(cli, "project", "show", "flights")
    assert info["task"] == "binary" and info["metric"] == "roc_auc"
    assert info["dataset"]["rows"] == 5000 and len(info["dataset"]["sha256"]) == 64
    assert info["approved_budget"]["time_seconds"] == 300.0
    assert info["approval"]["approved_by"] == "ana"
    assert info["champion"] == 1
    assert [p["name"] for p in json_of(cli, "project", "list")] == ["flights"]


def test_leaderboard_has_the_baseline_and_three_families(cli):
    board = json_of(cli, "leaderboard", "flights")
    families = {t["family"] for t in board}
    assert {"baseline", "lightgbm", "linear"} <= families
    assert families & {"random_forest", "extra_trees"}
    scores = [t["score"] for t in board if t["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    baseline = next(t for t in board if t["family"] == "baseline")
    assert board[0]["score"] > baseline["score"]


def test_run_list_and_the_registered_model(cli):
    runs = json_of(cli, "run", "list", "flights")
    assert len(runs) >= 1
    first = runs[0]
    assert first["status"] == "succeeded" and first["model_version"] == 1
    assert first["first_trial_seconds"] is not None
    model = json_of(cli, "model", "show", "flights", "1")
    assert model["champion"] is True
    assert model["metrics"]["test"]["roc_auc"] > 0.6 > model["metrics"]["baseline"]["roc_auc"]
    lineage = model["lineage"]
    assert lineage["run_id"] == first["id"]
    assert lineage["split"]["method"] == "time-ordered"
    assert len(lineage["dataset"]["sha256"]) == 64 and lineage["seed"] == 0
    assert lineage["trial"]["family"] == model["family"]
    # the served model is the chosen configuration refit on every labelled row unless the
    # probe (the same recipe fitted without the test rows) hurt; the test metrics describe
    # the evaluated one, fitted without the test rows, stored beside it
    refit = lineage["refit"]
    assert refit["rows"] == 5000 and refit["members"]
    assert refit["form"] == {"holdout": "one", "cv": "bag"}[lineage["validation"]["kind"]]
    evaluated = lineage["evaluated"]["artifact_sha256"]
    assert refit["form"] == "one"  # a holdout search
    probe = refit["probe"]
    assert probe["rows"] == 4249  # train + validation (751 test)
    assert probe["evaluated_score"] == model["metrics"]["test"]["roc_auc"]
    # on these 5,000 rows (since the short cycles' check) the probe is worse on every
    # resample: the evaluated model is served, stored once
    assert probe["hurts"] and probe["worse_share"] >= HURTS_SHARE
    assert not refit["done"] and refit["reason"].startswith("not done: it hurts")
    assert not any(m["refit"] for m in refit["members"])
    assert evaluated == model["artifact_sha256"]
    # the evaluated model trained on the training rows of the time-ordered split only
    assert lineage["evaluated"]["rows_per_model"] == first["split"]["counts"]["train"] < 5000


def test_run_show_has_the_manifest(cli):
    run = json_of(cli, "run", "show", "flights")
    env = run["manifest"]["environment"]
    assert env["python"] and "lightgbm" in env["packages"]
    assert run["manifest"]["budget"]["cpus"] == 2


def test_batch_predict_csv_and_parquet(cli, trained, tmp_path, flights_frame):
    new = flights_frame.iloc[-300:].drop(columns=["delayed"])
    source = tmp_path / "new.csv"
    new.to_csv(source, index=False)
    for suffix in ("csv", "parquet"):
        output = tmp_path / f"preds.{suffix}"
        code, _, err = cli("predict", "flights", "--input", str(source), "--output", str(output))
        assert code == 0, err
        preds = pd.read_csv(output) if suffix == "csv" else pd.read_parquet(output)
        assert list(preds.columns) == ["prediction", "proba_0", "proba_1"]
        assert len(preds) == 300
        assert ((preds.proba_0 + preds.proba_1 - 1).abs() < 1e-9).all()
    api = Workspace(trained[0]).project("flights").predict(new)
    assert (api["proba_1"].to_numpy() == pd.read_parquet(tmp_path / "preds.parquet")
            ["proba_1"].to_numpy()).all()


def test_predict_names_missing_columns_and_writes_nothing(cli, tmp_path, flights_frame):
    source = tmp_path / "partial.csv"
    flights_frame.iloc[:20].drop(columns=["carrier", "dest"]).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    code, _, err = cli("predict", "flights", "--input", str(source), "--output", str(output))
    assert code != 0 and "'carrier'" in err and "'dest'" in err
    assert not output.exists()


def test_predict_names_columns_with_wrong_types(cli, tmp_path, flights_frame):
    frame = flights_frame.iloc[:20].copy()
    frame["distance"] = frame["distance"].astype(str)
    frame.loc[3, "distance"] = "far away"
    source = tmp_path / "badtypes.csv"
    frame.to_csv(source, index=False)
    code, _, err = cli("predict", "flights", "--input", str(source), "--output",
                       str(tmp_path / "o.csv"))
    assert code != 0 and "distance" in err and "far away" in err


def test_rest_predict_matches_batch(trained, flights_frame):
    home, _ = trained
    client = TestClient(create_app(Workspace(home), ServeConfig(auth=False, log=False)))
    assert client.get("/healthz").json() == {"status": "ok"}
    records = json.loads(flights_frame.iloc[:5].drop(columns=["delayed"])
                         .to_json(orient="records", date_format="iso"))
    response = client.post("/v1/projects/flights/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == 1 and len(body["predictions"]) == 5
    assert set(body["predictions"][0]) == {"prediction", "proba_0", "proba_1"}
    batch = Workspace(home).project("flights").predict(flights_frame.iloc[:5])
    got = [p["proba_1"] for p in body["predictions"]]
    assert got == pytest.approx(batch["proba_1"].tolist(), abs=1e-12)
    assert "/v1/projects/flights/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_rest_errors_are_4xx_with_a_fix(trained, flights_frame):
    client = TestClient(create_app(Workspace(trained[0]), ServeConfig(auth=False, log=False)))
    missing = client.post("/v1/projects/flights/predict", json={"records": [{"carrier": "UA"}]})
    assert missing.status_code == 422
    assert ["body", "records", 0, "origin"] in [e["loc"] for e in missing.json()["detail"]]
    unknown = client.post("/v1/projects/nope/predict", json={"records": [{"a": 1}]})
    assert unknown.status_code == 404 and unknown.json()["detail"]["fix"]
    empty = client.post("/v1/projects/flights/predict", json={"records": []})
    assert empty.status_code == 422


def test_second_run_registers_v2_and_champion_moves_are_recorded(cli, trained):
    code, out, err = cli("run", "flights", "--max-trials", MAX_TRIALS)
    assert code == 0, err
    # the champion is scored as evaluated (without its test rows), not as refit on every
    # labelled row, so the same model scores the same on the same test rows
    new, old = re.search(r"roc_auc ([0-9.]+) vs champion ([0-9.]+)", " ".join(out.split())
                         ).groups()
    assert new == old
    models = json_of(cli, "model", "list", "flights")
    assert [m["version"] for m in models] == [1, 2]
    # same data, seed and trial count: the search is repeatable to the bit
    assert models[0]["artifact_sha256"] == models[1]["artifact_sha256"]
    assert models[0]["champion"]  # an equal model does not beat the champion
    assert (models[0]["lineage"]["evaluated"]["artifact_sha256"]
            == models[1]["lineage"]["evaluated"]["artifact_sha256"])
    assert json_of(cli, "model", "promote", "flights", "2")["version"] == 2
    assert json_of(cli, "model", "list", "flights")[1]["champion"]
    back = json_of(cli, "model", "rollback", "flights")
    assert back == {"alias": "champion", "version": 1, "previous": 2,
                    "reason": "rolled back from v2 by ana"}
    code, _, err = cli("model", "rollback", "flights")
    assert code != 0 and "no earlier champion" in err
    code, _, err = cli("model", "promote", "flights", "7")
    assert code != 0 and "no model version 7" in err
    ws = Workspace(trained[0])
    actions = [e["action"] for e in ws.events("flights")]
    for action in ("project.created", "dataset.ingested", "budget.approved", "run.started",
                   "model.registered", "model.promoted", "run.finished", "model.rolled_back"):
        assert action in actions
    assert ws.verify_audit().ok


def test_a_crash_while_registering_leaves_no_model_and_a_failed_run(trained, monkeypatch):
    from mlpilot.store import repositories

    def crash(*args, **kwargs):
        raise OSError("disk full")

    ws = Workspace(trained[0])
    project = ws.project("flights")
    before = [m.version for m in project.models()]
    monkeypatch.setattr(repositories, "add_model_version", crash)
    with pytest.raises(OSError, match="disk full"):
        project.run(max_trials=2)
    assert [m.version for m in project.models()] == before
    last = project.runs()[-1]
    assert last.status == "failed" and "disk full" in last.error
    assert ws.verify_audit().ok


def test_optimize_for_latency_keeps_only_fast_models(cli):
    code, out, err = cli("run", "flights", "--max-trials", "6", "--optimize-for", "latency",
                         "--max-latency-us", "3", "--no-final-fit")
    assert code == 0, err
    assert "Final fit: not done: switched off" in " ".join(out.split())
    model = json_of(cli, "model", "list", "flights")[-1]
    assert not model["lineage"]["refit"]["done"]
    assert model["lineage"]["evaluated"]["artifact_sha256"] == model["artifact_sha256"]
    board = json_of(cli, "leaderboard", "flights")
    assert "ensemble" not in {t["family"] for t in board}
    rejected = [t for t in board if t["state"] == "rejected"]
    assert rejected and all("latency limit" in t["error"] for t in rejected)
    kept = [t for t in board if t["state"] == "complete" and t["family"] != "baseline"]
    assert all(t["predict_seconds_per_row"] <= 3e-6 for t in kept)
    code, _, err = cli("run", "flights", "--optimize-for", "speed")
    assert code != 0 and "accuracy or latency" in err
