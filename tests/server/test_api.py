"""The REST API in-process: predictions, strict schemas, auth, champion moves, feedback, log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlpilot.pipeline.predlog import read_log
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server.app import create_app
from mlpilot.server.config import ServeConfig


@pytest.fixture
def client(served_home, keys):
    app = create_app(Workspace(served_home), ServeConfig(refresh_seconds=60))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {keys['predict']}"
        yield test_client


def test_one_record_and_many_match_the_predictor(client, records, predictor_of):
    one = client.post("/v1/projects/flights/predict", json=records[0])
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["model_version"] == 1 and len(body["request_id"]) == 32
    many = client.post("/v1/projects/flights/predict", json={"records": records[:50]})
    assert many.status_code == 200
    got = pd.DataFrame(many.json()["predictions"])
    expected = predictor_of(1).predict_frame(pd.DataFrame.from_records(records[:50]))
    assert list(got.columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_array_equal(got["proba_1"].to_numpy(), expected["proba_1"].to_numpy())
    assert body["predictions"][0] == many.json()["predictions"][0]


def test_invalid_records_get_one_422_entry_per_bad_field(client, records):
    bad = {**records[0], "distance": "far", "colour": "red"}
    del bad["origin"]
    response = client.post("/v1/projects/flights/predict", json={"records": [records[1], bad]})
    assert response.status_code == 422
    entries = {tuple(e["loc"]): e["type"] for e in response.json()["detail"]}
    assert entries == {("body", "records", 1, "origin"): "missing",
                       ("body", "records", 1, "distance"): "int_type",
                       ("body", "records", 1, "colour"): "extra_forbidden"}
    assert client.post("/v1/projects/flights/predict", content=b"{").status_code == 422
    assert client.post("/v1/projects/flights/predict", json={"records": []}).status_code == 422
    missing = client.post("/v1/projects/nope/predict", json=records[0])
    assert missing.status_code == 404 and "flights" in missing.json()["detail"]["found"]


def test_lenient_mode_ignores_unknown_columns(served_home, keys, records):
    app = create_app(Workspace(served_home), ServeConfig(strict=False, log=False))
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {keys['predict']}"
        response = client.post("/v1/projects/flights/predict",
                               json={**records[0], "colour": "red"})
    assert response.status_code == 200


def test_openapi_lists_every_feature_with_its_type(client):
    doc = client.get("/openapi.json").json()
    assert "/v1/projects/flights/predict" in doc["paths"]
    record = doc["components"]["schemas"]["FlightsRecord"]
    props = record["properties"]
    assert props["distance"]["type"] == "integer" and props["carrier"]["type"] == "string"
    assert props["time_hour"]["format"] == "date-time"
    assert {"carrier", "origin", "dest", "distance"} <= set(record["required"])
    assert record["additionalProperties"] is False


def test_keys_are_required_and_scoped(client, keys, records):
    anonymous = client.post("/v1/projects/flights/predict", json=records[0],
                            headers={"Authorization": ""})
    assert anonymous.status_code == 401 and "apikey create" in anonymous.json()["detail"]["fix"]
    wrong = client.post("/v1/projects/flights/predict", json=records[0],
                        headers={"Authorization": "Bearer mlp_nope"})
    assert wrong.status_code == 401
    forbidden = client.post("/v1/projects/flights/champion", json={"version": 2})
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]["expected"]
    assert client.get("/healthz").status_code == 200  # open
    assert client.get("/v1/projects").status_code == 200


def test_admin_moves_the_champion_and_the_next_request_uses_it(client, keys, records):
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    moved = client.post("/v1/projects/flights/champion", json={"version": 2}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert moved.json()["serving"] == 2
    assert client.post("/v1/projects/flights/predict",
                       json=records[0]).json()["model_version"] == 2
    back = client.post("/v1/projects/flights/champion", json={"rollback": True}, headers=admin)
    assert back.json()["serving"] == 1
    both = client.post("/v1/projects/flights/champion", json={"version": 2, "rollback": True},
                       headers=admin)
    assert both.status_code == 422
    metrics = client.get("/metrics").text
    assert 'mlpilot_model_version{project="flights"} 1.0' in metrics
    assert "mlpilot_champion_swaps_total" in metrics


def test_feedback_attaches_labels_to_request_ids(client, records):
    request_id = client.post("/v1/projects/flights/predict", json=records[0]).json()["request_id"]
    ok = client.post("/v1/projects/flights/feedback",
                     json={"labels": [{"request_id": request_id, "label": 1}]})
    assert ok.status_code == 200 and ok.json()["recorded"] == 1
    bad = client.post("/v1/projects/flights/feedback",
                      json={"labels": [{"request_id": request_id, "label": "late"}]})
    assert bad.status_code == 422 and "classes" in bad.json()["detail"]["expected"]


def test_every_answered_request_is_in_the_prediction_log(served_home, keys, records):
    app = create_app(Workspace(served_home), ServeConfig())
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {keys['predict']}"
        ids = [client.post("/v1/projects/flights/predict",
                           json={"records": records[i:i + 3]}).json()["request_id"]
               for i in range(0, 30, 3)]
        assert client.get("/readyz").json() == {"status": "ready", "models": {"flights": 1}}
    log = read_log(Workspace(served_home).store, "flights")
    mine = log[log.request_id.isin(ids)]
    assert len(mine) == 30 and set(mine["row"]) == {0, 1, 2}
    assert (mine["model_version"] == 1).all() and (mine["latency_ms"] > 0).all()
    assert '"carrier"' in mine["inputs"].iloc[0] and '"proba_1"' in mine["outputs"].iloc[0]


def _fastapi_route_only(app):
    """The app without its raw-ASGI predict route: requests go through FastAPI's own."""
    async def asgi(scope, receive, send):
        await FastAPI.__call__(app, scope, receive, send)
    return asgi


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("route", ["fast", "fastapi"])
def test_the_target_in_a_prediction_request_is_a_422_entry(served_home, keys, records, strict,
                                                           route):
    app = create_app(Workspace(served_home), ServeConfig(strict=strict, log=False))
    with TestClient(app if route == "fast" else _fastapi_route_only(app)) as client:
        client.headers["Authorization"] = f"Bearer {keys['predict']}"
        one = client.post("/v1/projects/flights/predict", json={**records[0], "delayed": 1})
        many = client.post("/v1/projects/flights/predict", json={"records": [
            records[0], {**records[1], "delayed": None, "distance": "far"}]})
        clean = client.post("/v1/projects/flights/predict", json=records[0])
    assert one.status_code == 422 and many.status_code == 422
    assert one.json()["detail"] == [{
        "loc": ["body", "delayed"], "type": "target_not_allowed", "input": 1,
        "msg": "'delayed' is the target column: it is what the model predicts, so prediction "
               "requests must not send it; remove it from the record"}]
    entries = {tuple(e["loc"]): e["type"] for e in many.json()["detail"]}
    assert entries == {("body", "records", 1, "delayed"): "target_not_allowed",
                       ("body", "records", 1, "distance"): "int_type"}
    assert clean.status_code == 200


def test_openapi_does_not_offer_the_target(client):
    doc = client.get("/openapi.json").json()
    assert "delayed" not in doc["components"]["schemas"]["FlightsRecord"]["properties"]
    operation = doc["paths"]["/v1/projects/flights/predict"]["post"]
    assert "Do not send the target, `delayed`" in operation["description"]
    assert "the target column" in operation["responses"]["422"]["description"]
