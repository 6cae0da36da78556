"""Micro-batching and API keys from the CLI (batch files: tests/pipeline/test_batch_predict.py;
ONNX export: tests/models/test_onnx_export.py)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pandas as pd
import pytest

from mlpilot.cli.main import main
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server.app import create_app
from mlpilot.server.config import ServeConfig


def test_concurrent_single_rows_are_scored_in_batches(served_home, keys, records,
                                                      predictor_of):
    app = create_app(Workspace(served_home), ServeConfig(log=False, batch_max_size=16))
    sizes = []
    state = app.state.mlpilot
    state.batcher.on_batch = sizes.append

    async def burst() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     headers={"Authorization": f"Bearer {keys['predict']}"}
                                     ) as client:
            responses = await asyncio.gather(*(
                client.post("/v1/projects/flights/predict", json=r) for r in records[:40]))
        return [r.json()["predictions"][0] for r in responses]

    got = asyncio.run(burst())
    expected = predictor_of(1).predict_frame(pd.DataFrame.from_records(records[:40]))
    assert [g["proba_1"] for g in got] == pytest.approx(expected["proba_1"].tolist(), abs=1e-12)
    assert max(sizes) > 1 and sum(sizes) == 40


def test_apikey_cli_shows_the_key_once_and_stores_a_hash(home, capsys):
    assert main(["apikey", "create", "--name", "dash", "--scope", "admin", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "dash" and created["key"].startswith("mlp_")
    assert created["key"] not in (home / "mlpilot.db").read_bytes().decode("latin-1")
    assert main(["apikey", "create", "--name", "x", "--scope", "root"]) == 1
    assert "predict or admin" in capsys.readouterr().err
    assert main(["apikey", "revoke", "dash"]) == 0
