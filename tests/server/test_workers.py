"""`mlpilot serve --workers 2` as a real process: whichever worker answers `/metrics` reports
the requests of both, feedback answered by one worker knows the other's request ids, a killed
worker's live gauges leave the scrape while its counts stay, and the shared metrics directory
goes away with the server. One worker keeps its metrics in memory."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

PREDICT = "/v1/projects/flights/predict"


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with ``labels`` in an exposition text (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def _pids(directory: Path, prefix: str) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob(f"{prefix}_*.db")}


def _wait_for(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_two_workers_report_the_requests_of_both_on_every_scrape(served_home, keys, records,
                                                                  live_server, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the server makes its metrics directory
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "elsewhere"))  # not used
    server = live_server(served_home, "--workers", "2")
    [metrics_dir] = tmp_path.glob("mlpilot-metrics-*")
    auth = {"Authorization": f"Bearer {keys['predict']}"}
    ids: list[str] = []
    # one connection per request, so that the kernel hands them to both workers
    while len(ids) < 40 or len(_pids(metrics_dir, "counter")) < 2:
        response = httpx.post(server.url + PREDICT, json=records[len(ids) % len(records)],
                              headers=auth)
        assert response.status_code == 200, response.text
        ids.append(response.json()["request_id"])
        assert len(ids) < 2000, "one worker answered every request"
    invalid = [httpx.post(server.url + PREDICT, json={**records[0], "delayed": 1},
                          headers=auth).status_code for _ in range(5)]
    assert invalid == [422] * 5
    sent = len(ids)

    def totals(text: str) -> tuple[float, ...]:
        return (_sample(text, "mlpilot_requests_total", endpoint="predict", project="flights",
                        status="200"),
                _sample(text, "mlpilot_requests_total", endpoint="predict", project="flights",
                        status="422"),
                _sample(text, "mlpilot_request_latency_seconds_count", endpoint="predict",
                        project="flights"),
                _sample(text, "mlpilot_predicted_rows_total", project="flights"),
                _sample(text, "mlpilot_model_version", project="flights"))

    expected = (sent, 5, sent + 5, sent, 1)
    for _ in range(8):  # new connections: the scrapes are answered by either worker
        scrape = httpx.get(server.url + "/metrics")
        assert scrape.status_code == 200
        assert totals(scrape.text) == expected
    assert not (tmp_path / "elsewhere").exists()

    # feedback answered by one worker knows the ids the other answered (unflushed segments)
    labels = [{"request_id": request_id, "label": 1} for request_id in ids]
    recorded = httpx.post(f"{server.url}/v1/projects/flights/feedback",
                          json={"labels": labels}, headers=auth)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["recorded"] == sent
    refused = httpx.post(f"{server.url}/v1/projects/flights/feedback",
                         json={"labels": [*labels[:3], {"request_id": "f" * 32, "label": 1}]},
                         headers=auth)
    assert refused.status_code == 422 and "f" * 32 in refused.json()["detail"]["found"]

    # kill -9 a worker: uvicorn starts another; its counts stay, its live gauges go
    victim = min(_pids(metrics_dir, "counter"))
    os.kill(victim, signal.SIGKILL)
    assert _wait_for(lambda: httpx.get(server.url + "/metrics").status_code == 200
                     and victim not in _pids(metrics_dir, "gauge_livesum"))
    assert victim not in _pids(metrics_dir, "gauge_livemostrecent")
    assert _wait_for(lambda: httpx.get(server.url + "/readyz").status_code == 200)
    assert totals(httpx.get(server.url + "/metrics").text)[:4] == expected[:4]

    server.stop()
    assert not metrics_dir.exists()


def test_one_worker_keeps_its_metrics_in_memory(served_home, keys, records, live_server,
                                                tmp_path, monkeypatch):
    shared = tmp_path / "multiproc"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    server = live_server(served_home)
    auth = {"Authorization": f"Bearer {keys['predict']}"}
    for record in records[:7]:
        assert httpx.post(server.url + PREDICT, json=record, headers=auth).status_code == 200
    text = httpx.get(server.url + "/metrics").text
    assert _sample(text, "mlpilot_requests_total", endpoint="predict", project="flights",
                   status="200") == 7
    assert _sample(text, "mlpilot_model_version", project="flights") == 1
    assert list(shared.iterdir()) == []
