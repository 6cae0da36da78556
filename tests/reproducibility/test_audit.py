"""The audit trail: listing, a tampered event, a tampered model artifact."""

from __future__ import annotations

import json
import sqlite3

import pytest

from mlpilot.core.errors import IntegrityError
from mlpilot.pipeline.workspace import Workspace


def test_audit_lists_a_projects_events_with_actor_and_hashes(recorded, cli):
    home, _ = recorded
    code, out, err = cli(home, "audit", "flights", "--json")
    assert code == 0, err
    events = json.loads(out)
    actions = [e["action"] for e in events]
    assert actions[:4] == ["project.created", "dataset.ingested", "budget.approved",
                           "run.started"]
    assert all(e["actor"] == "ana" and len(e["hash"]) == 64 for e in events)
    code, out, _ = cli(home, "audit", "list", "flights", "--action", "model.", "--json")
    assert {e["action"] for e in json.loads(out)} <= {"model.registered", "model.promoted"}
    code, out, err = cli(home, "audit", "verify")
    assert code == 0 and "ok" in out, err


def test_a_tampered_event_is_detected_and_named(copy_of, cli):
    home, _ = copy_of
    with sqlite3.connect(home / "mlpilot.db") as db:
        db.execute("""update events set payload_json = replace(payload_json, '"cpus":2',
                      '"cpus":16') where action = 'budget.approved'""")
    code, _, err = cli(home, "audit", "verify", "--no-objects")
    assert code == 1
    assert "audit event #3 (budget.approved by ana" in err and "payload was changed" in err


def test_a_removed_event_is_detected(copy_of, cli):
    home, _ = copy_of
    with sqlite3.connect(home / "mlpilot.db") as db:
        db.execute("delete from events where seq = 2")
    code, _, err = cli(home, "audit", "verify")
    assert code == 1 and "event 2 is missing" in err


def test_a_tampered_model_artifact_refuses_to_load(copy_of, cli, flights_frame, tmp_path):
    home, _ = copy_of
    ws = Workspace(home)
    model = ws.project("flights").model(1)
    path = home / "objects" / model.artifact_sha256[:2] / model.artifact_sha256[2:]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its hash"):
        Workspace(home).project("flights").model(1).load()
    source = tmp_path / "in.csv"
    flights_frame.iloc[:5].to_csv(source, index=False)
    code, _, err = cli(home, "predict", "flights", "--input", str(source), "--output",
                       str(tmp_path / "out.csv"))
    assert code != 0 and "modified or corrupted" in err
    assert not (tmp_path / "out.csv").exists()
    code, _, err = cli(home, "audit", "verify")
    assert code == 1 and "model v1 artifact" in err
