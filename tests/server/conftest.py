"""A workspace with a trained flights project (two model versions) shared by serving tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from mlpilot.pipeline.apikeys import create_key
from mlpilot.pipeline.workspace import Workspace


@pytest.fixture(scope="session")
def served_home(tmp_path_factory, flights_slice) -> Path:
    """`flights` trained twice (v1 champion, v2 registered), plus keys in keys.json."""
    home = tmp_path_factory.mktemp("serving") / "ws"
    ws = Workspace(home)
    project = ws.create_project("flights", flights_slice, "delayed", time_column="time_hour")
    project.approve(time="20s", cpus=1)
    project.run(max_trials=3)
    project.run(max_trials=2)
    if project.champion().version != 1:
        project.promote(1)
    keys = {"predict": create_key(ws.store, "ci", "predict").key,
            "admin": create_key(ws.store, "ops", "admin").key}
    (home / "keys.json").write_text(json.dumps(keys))
    ws.close()
    return home


@pytest.fixture(scope="session")
def keys(served_home) -> dict[str, str]:
    return json.loads((served_home / "keys.json").read_text())


@pytest.fixture(scope="session")
def records(flights_frame) -> list[dict]:
    """200 flights from the end of the sample, as JSON records (no target)."""
    rows = flights_frame.iloc[-200:].drop(columns=["delayed"])
    return json.loads(rows.to_json(orient="records", date_format="iso"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`mlpilot serve` in a subprocess on a free loopback port."""

    def __init__(self, home: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MLPILOT_HOME": str(home), "MLPILOT_ACTOR": "tester"}
        env.pop("MLPILOT_DB", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlpilot.cli.main", "serve", "--port", str(self.port),
             *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode())
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not become ready in 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def live_server():
    """Start `mlpilot serve` subprocesses (stopped at the end of the test)."""
    started: list[LiveServer] = []

    def start(home: Path, *args: str) -> LiveServer:
        server = LiveServer(home, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def predictor_of(served_home):
    """The Predictor of a version of flights."""
    def load(version: int):
        ws = Workspace(served_home)
        return ws.project("flights").model(version).load()
    return load


def frame_of(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records)
