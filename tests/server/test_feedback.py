"""Feedback is checked against the prediction log: only request ids (and rows) the project
answered are accepted, all or nothing, whether their log entries are flushed or not; the latest
label for a request row wins and the audit log keeps the one it replaced."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mlpilot.pipeline.predlog import (
    PredictionLog,
    entry,
    find_requests,
    issued_at,
    new_request_id,
)
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server.app import create_app
from mlpilot.server.config import ServeConfig
from mlpilot.store.audit import event_payload, list_events
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import FeedbackRow


@pytest.fixture
def client(served_home, keys):
    app = create_app(Workspace(served_home), ServeConfig(refresh_seconds=60))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {keys['predict']}"
        yield test_client


def _labels_of(home, request_ids) -> dict[tuple[str, int], str]:
    with Workspace(home).store.transaction() as session:
        rows = session.scalars(select(FeedbackRow).where(
            FeedbackRow.project == "flights", FeedbackRow.request_id.in_(list(request_ids))))
        return {(r.request_id, r.row): r.label_json for r in rows}


def _predict(client, records) -> str:
    response = client.post("/v1/projects/flights/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return response.json()["request_id"]


def test_unknown_request_ids_are_refused_and_nothing_is_recorded(client, served_home, records):
    known = _predict(client, records[:2])  # still in this server's unflushed segment
    never = new_request_id()
    response = client.post("/v1/projects/flights/feedback", json={"labels": [
        {"request_id": known, "row": 0, "label": 1},
        {"request_id": never, "label": 0},
        {"request_id": "not-an-id", "label": 0}]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["error"] == "SchemaError" and "nothing was recorded" in detail["problem"]
    assert "2 request id(s)" in detail["found"] and never in detail["found"]
    assert "not-an-id" in detail["found"] and known not in detail["found"]
    assert "request_id" in detail["fix"]
    assert _labels_of(served_home, [known, never]) == {}  # all or nothing


def test_a_row_the_request_did_not_have_is_refused(client, served_home, records):
    request_id = _predict(client, records[:2])
    response = client.post("/v1/projects/flights/feedback", json={"labels": [
        {"request_id": request_id, "row": 1, "label": 1},
        {"request_id": request_id, "row": 2, "label": 1}]})
    assert response.status_code == 422
    assert f"request {request_id} has no row 2 (its rows: 0, 1)" in \
        response.json()["detail"]["found"]
    assert _labels_of(served_home, [request_id]) == {}


def test_ids_answered_for_another_project_are_unknown_here(client, served_home):
    other = new_request_id()
    log = PredictionLog(Workspace(served_home).store)
    log.append([entry(other, 0, "weather", 1, 0.4, {"x": 1}, {"prediction": 1})])
    log.close()  # flushed to the weather project's Parquet
    response = client.post("/v1/projects/flights/feedback",
                           json={"labels": [{"request_id": other, "label": 1}]})
    assert response.status_code == 422 and other in response.json()["detail"]["found"]


def test_ids_are_known_before_and_after_their_log_is_flushed(served_home, keys, records):
    app = create_app(Workspace(served_home), ServeConfig(refresh_seconds=60))
    app.state.mlpilot.log.segment_seconds = 3600  # no rotation by age during the test
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {keys['predict']}"
        fresh = _predict(client, records[:1])
        assert app.state.mlpilot.log.pending_rows >= 1  # not yet in Parquet
        first = client.post("/v1/projects/flights/feedback",
                            json={"labels": [{"request_id": fresh, "label": 1}]})
        assert first.status_code == 200, first.text
        app.state.mlpilot.log.flush()
        assert app.state.mlpilot.log.pending_rows == 0
        again = client.post("/v1/projects/flights/feedback",
                            json={"labels": [{"request_id": fresh, "label": 0}]})
        assert again.status_code == 200, again.text
    assert first.json() == {"project": "flights", "recorded": 1, "replaced": 0}
    assert again.json() == {"project": "flights", "recorded": 1, "replaced": 1}


def test_the_latest_label_wins_and_the_audit_log_keeps_the_replaced_one(client, served_home,
                                                                        records):
    request_id = _predict(client, records[:1])
    once = client.post("/v1/projects/flights/feedback", json={"labels": [
        {"request_id": request_id, "label": 0},
        {"request_id": request_id, "label": 1}]})  # twice in one call: the last one counts
    assert once.json()["recorded"] == 1 and once.json()["replaced"] == 0
    assert _labels_of(served_home, [request_id]) == {(request_id, 0): "1"}
    twice = client.post("/v1/projects/flights/feedback",
                        json={"labels": [{"request_id": request_id, "label": 0}]})
    assert twice.json()["replaced"] == 1
    assert _labels_of(served_home, [request_id]) == {(request_id, 0): "0"}
    with Workspace(served_home).store.transaction() as session:
        last = [e for e in list_events(session, "flights")
                if e.action == "feedback.recorded"][-1]
        payload = event_payload(last)
    assert payload["replaced"] == [{"request_id": request_id, "row": 0, "previous": 1,
                                    "label": 0}]


# ---------------------------------------------------------------- the log lookup itself
def test_request_ids_say_when_they_were_issued():
    before = datetime.now(UTC).replace(tzinfo=None)
    request_id = new_request_id()
    moment = issued_at(request_id)
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert moment is not None and before - timedelta(seconds=1) <= moment
    assert moment <= datetime.now(UTC).replace(tzinfo=None)
    assert issued_at("short") is None and issued_at("z" * 32) is None
    assert new_request_id() != request_id


def test_find_requests_reads_segments_near_objects_and_falls_back_for_old_ids(tmp_path):
    store = StoreHandle.open(tmp_path / "ws")
    old_format = uuid.uuid4().hex  # ids issued before they carried their time
    early, late = new_request_id(), new_request_id()
    flushed = PredictionLog(store)
    flushed.append([entry(old_format, 0, "p", 1, 0.5, {"x": 1}, {"prediction": 1}),
                    entry(early, 0, "p", 1, 0.5, {"x": 1}, {"prediction": 1}),
                    entry(early, 1, "p", 1, 0.5, {"x": 2}, {"prediction": 0})])
    flushed.close()
    live = PredictionLog(store)  # its segment stays open: not flushed
    live.append([entry(late, 0, "p", 1, 0.5, {"x": 3}, {"prediction": 1}),
                 entry(late, 0, "q", 1, 0.5, {"x": 3}, {"prediction": 1})])
    # a torn last line (a write in progress) is never read as an entry
    with open(live._segment.path, "ab") as torn:
        torn.write(b'{"request_id":"' + new_request_id().encode())
    found = find_requests(store, "p", [old_format, early, late, new_request_id()])
    assert found == {old_format: {0}, early: {0, 1}, late: {0}}
    assert find_requests(store, "q", [early, late]) == {late: {0}}
    live.close()
    assert find_requests(store, "p", [late]) == {late: {0}}


def test_find_requests_reads_only_the_objects_logged_around_the_ids(tmp_path, monkeypatch):
    store = StoreHandle.open(tmp_path / "ws")
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    old = f"{int(two_hours_ago.timestamp() * 1000):012x}{'ab' * 10}"
    for request_id, at in [(old, two_hours_ago), (new_request_id(), None)]:
        log = PredictionLog(store)
        log.append([entry(request_id, 0, "p", 1, 0.5, {"x": 1}, {"prediction": 1}, at)])
        log.close()
    recent = new_request_id()
    log = PredictionLog(store)
    log.append([entry(recent, 0, "p", 1, 0.5, {"x": 1}, {"prediction": 1})])
    log.close()
    reads: list[str] = []
    get = store.objects.get
    monkeypatch.setattr(store.objects, "get", lambda sha: reads.append(sha) or get(sha))
    assert find_requests(store, "p", [recent]) == {recent: {0}}
    assert len(reads) == 2  # the two objects of the last minutes, not the old one
    reads.clear()
    assert find_requests(store, "p", [old]) == {old: {0}}
    assert len(reads) == 1
