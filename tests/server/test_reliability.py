"""Reliability against a real `mlpilot serve` process: champion swaps under load, kill -9,
and schemathesis over the generated OpenAPI document."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from mlpilot.pipeline.predlog import read_log, recover
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server.app import create_app
from mlpilot.server.config import ServeConfig


def _load(url: str, key: str, records: list[dict], n: int, results: list, stop=None) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=10) as client:
        for i in range(n):
            if stop is not None and stop.is_set():
                return
            try:
                response = client.post("/v1/projects/flights/predict",
                                       json=records[i % len(records)])
                results.append((response.status_code, response.json()))
            except httpx.HTTPError as exc:
                results.append((None, repr(exc)))


def test_champion_swaps_every_second_under_load_fail_no_request(served_home, keys, records,
                                                                  live_server):
    server = live_server(served_home, "--refresh-seconds", "0.2")
    results: list = []
    # the clients keep sending until four swaps are done (at most 2,000 requests each), so
    # the load lasts through the swaps however fast the model answers
    stop = threading.Event()
    clients = [threading.Thread(target=_load, args=(server.url, keys["predict"], records, 2000,
                                                    results, stop)) for _ in range(4)]
    for thread in clients:
        thread.start()
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    project = Workspace(served_home).project("flights")
    swaps = 0
    while any(t.is_alive() for t in clients) and swaps < 4:
        time.sleep(1.0)
        target = 1 if project.champion().version == 2 else 2
        if swaps % 2 == 0:  # through the REST endpoint
            moved = httpx.post(f"{server.url}/v1/projects/flights/champion",
                               json={"version": target}, headers=admin)
            assert moved.status_code == 200, moved.text
        else:  # through the database, as the CLI does; the server polls it
            project.promote(target)
        swaps += 1
    time.sleep(1.0)  # requests after the last swap
    stop.set()
    for thread in clients:
        thread.join()
    if project.champion().version != 1:
        project.promote(1)
    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:3]
    assert len(results) >= 100 and swaps == 4
    assert {body["model_version"] for _, body in results} == {1, 2}


def test_kill_9_under_load_loses_no_acknowledged_log_entry(served_home, keys, records,
                                                          live_server):
    server = live_server(served_home)
    results: list = []
    stop = threading.Event()
    clients = [threading.Thread(target=_load, args=(server.url, keys["predict"], records, 400,
                                                    results, stop)) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(2.0)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop.set()
    for thread in clients:
        thread.join()
    acknowledged = {body["request_id"] for status, body in results if status == 200}
    assert len(acknowledged) > 20
    store = Workspace(served_home).store
    recover(store)  # what the next `mlpilot serve` does at start-up
    logged = set(read_log(store, "flights")["request_id"])
    lost = acknowledged - logged
    assert not lost, f"{len(lost)} acknowledged requests missing from the log"


def test_openapi_fuzzing_never_gets_a_server_error(served_home, keys):
    app = create_app(Workspace(served_home), ServeConfig(refresh_seconds=60, log=False))
    with TestClient(app):  # runs the lifespan: champions loaded
        loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [op.ok() for op in loaded.include(
            method="POST", path_regex="predict|feedback").get_all_operations()]
        assert "/v1/projects/flights/predict" in {op.path for op in operations}
        calls = []
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=30, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Case) -> None:
                case.headers = {**(case.headers or {}),
                                "Authorization": f"Bearer {keys['predict']}"}
                if "name" in (case.path_parameters or {}):
                    case.path_parameters = {"name": "flights"}
                response = case.call()
                calls.append(response.status_code)
                case.validate_response(response, checks=[not_a_server_error])

            check()
    assert len(calls) >= 30 and all(code < 500 for code in calls)
