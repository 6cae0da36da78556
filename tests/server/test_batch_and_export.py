"""Micro-batching, ONNX export and API keys from the CLI (batch files: tests/pipeline/
test_batch_predict.py)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pandas as pd
import pytest

from mlpilot.cli.main import main
from mlpilot.core.config import Task
from mlpilot.data.schema import infer_schema, validate_prediction_input
from mlpilot.models.onnx_export import export_onnx
from mlpilot.models.predictor import Predictor, fit_member
from mlpilot.models.registry import get_adapter
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


def test_onnx_export_of_lightgbm_matches_the_predictor(flights_slice):
    schema = infer_schema(flights_slice, target="delayed", time_column="time_hour")
    X = validate_prediction_input(flights_slice, schema)
    params = get_adapter("lightgbm").default_params(Task.BINARY, len(X))
    member = fit_member("lightgbm", X, flights_slice["delayed"].to_numpy(), schema=schema,
                        task=Task.BINARY, n_classes=2, params=params, seed=0, n_threads=1)
    predictor = Predictor(schema, Task.BINARY, [0, 1], [member])
    result = export_onnx(predictor, flights_slice.iloc[-500:])
    assert result.rows_checked == 500 and result.max_abs_diff < 1e-4
    import onnx
    meta = {p.key: p.value for p in onnx.load_from_string(result.data).metadata_props}
    assert json.loads(meta["mlpilot.classes"]) == [0, 1]
    assert "features" in meta["mlpilot.input_contract"]


def test_cli_export_refuses_a_graph_that_disagrees(served_home, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MLPILOT_HOME", str(served_home))
    out = tmp_path / "m.onnx"
    code = main(["model", "export", "flights", "1", "--output", str(out), "--rows", "300",
                 "--json"])
    if code == 0:
        assert json.loads(capsys.readouterr().out)["max_abs_diff"] <= 1e-4 and out.exists()
    else:  # an ensemble, or float32 trees that flip a split: refused, nothing written
        err = capsys.readouterr().err
        assert "ONNX" in err or "does not reproduce" in err
        assert not out.exists()


def test_apikey_cli_shows_the_key_once_and_stores_a_hash(home, capsys):
    assert main(["apikey", "create", "--name", "dash", "--scope", "admin", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "dash" and created["key"].startswith("mlp_")
    assert created["key"] not in (home / "mlpilot.db").read_bytes().decode("latin-1")
    assert main(["apikey", "create", "--name", "x", "--scope", "root"]) == 1
    assert "predict or admin" in capsys.readouterr().err
    assert main(["apikey", "revoke", "dash"]) == 0
