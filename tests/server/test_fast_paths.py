"""The serving hot path: one log write per micro-batch, Arrow-read log segments (with the Python
reader for older or torn segments), and the raw-ASGI predict route's limits."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import orjson
from fastapi.testclient import TestClient

from mlpilot.pipeline.predlog import PredictionLog, entry, flush_segment, read_log
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server import app as app_module
from mlpilot.server.app import create_app
from mlpilot.server.batching import MicroBatcher
from mlpilot.server.config import ServeConfig
from mlpilot.store.handle import StoreHandle


class _Doubler:
    def predict_records(self, rows: list[dict]) -> list[dict]:
        return [{"prediction": 2 * r["x"]} for r in rows]


def test_concurrent_requests_are_logged_with_one_call_per_batch_before_any_answer():
    served = SimpleNamespace(predictor=_Doubler())
    calls: list[list] = []
    answered: list[int] = []

    def on_scored(jobs):
        assert not answered or len(answered) == sum(len(c) for c in calls)  # log, then answer
        calls.append([job.request_id for job in jobs])

    async def main() -> list:
        batcher = MicroBatcher(64, 0.0, on_scored=on_scored)

        async def one(i: int):
            job = await batcher.submit(served, [{"x": i}])
            answered.append(i)
            return job

        jobs = await asyncio.gather(*(one(i) for i in range(40)))
        await batcher.close()
        return jobs

    jobs = asyncio.run(main())
    assert [job.outputs for job in jobs] == [[{"prediction": 2 * i}] for i in range(40)]
    assert len(calls) < 40 and sum(len(c) for c in calls) == 40  # batched log writes
    assert sorted(r for c in calls for r in c) == sorted(job.request_id for job in jobs)


def test_a_log_write_failure_fails_the_requests_of_its_batch():
    served = SimpleNamespace(predictor=_Doubler())

    def broken(jobs):
        raise OSError("disk full")

    async def main() -> BaseException | None:
        batcher = MicroBatcher(64, 0.0, on_scored=broken)
        try:
            await batcher.submit(served, [{"x": 1}])
        except OSError as exc:
            return exc
        finally:
            await batcher.close()
        return None

    assert isinstance(asyncio.run(main()), OSError)


def test_segments_of_the_older_format_and_torn_lines_are_still_flushed(tmp_path):
    store = StoreHandle.open(tmp_path / "ws")
    log = PredictionLog(store)
    log.append([entry("new", 0, "p", 1, 0.5, {"x": 1}, {"prediction": 2})])
    log.close()
    old = store.home / "predlog" / "old.jsonl"
    lines = [orjson.dumps(entry(f"old{i}", 0, "p", 1, 0.5, {"x": i}, {"prediction": i}))
             for i in range(3)]
    old.write_bytes(b"\n".join(lines) + b'\n{"request_id": "to')
    assert flush_segment(store, old) == 3
    frame = read_log(store, "p")
    assert list(frame["request_id"]) == ["new", "old0", "old1", "old2"]
    assert json.loads(frame["inputs"].iloc[2]) == {"x": 1}
    assert str(frame["at"].dtype) == "datetime64[us, UTC]"


def test_fast_route_limits_the_body_and_counts_the_request(served_home, keys, monkeypatch):
    monkeypatch.setattr(app_module, "MAX_BODY_BYTES", 100)
    app = create_app(Workspace(served_home), ServeConfig(log=False))
    headers = {"Authorization": f"Bearer {keys['predict']}"}
    with TestClient(app) as client:
        big = client.post("/v1/projects/flights/predict", headers=headers,
                          content=b'{"records": [' + b" " * 200 + b"]}")
        assert big.status_code == 422 and "too large" in big.json()["detail"]["message"]
        metrics = client.get("/metrics").text
    assert 'endpoint="predict",project="flights",status="422"' in metrics
