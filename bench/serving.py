"""Online serving: mlpilot vs `mlflow models serve`, the same LightGBM model, one row per request.

Both servers run with one worker on loopback; load comes from bench/loadgen.py in a separate
process (keep-alive clients, bounded request count). mlpilot is measured as deployed: API key
check, schema validation of the raw record, the trained preprocessing, micro-batching and the
durable prediction log. MLflow gets the already preprocessed feature row (its LightGBM flavour
cannot run mlpilot's preprocessing), so it does strictly less work per request.

    make peers-mlflow        # MLflow in .peers/mlflow, never in .venv
    flock /tmp/mlpilot-bench.lock python bench/serving.py [--requests 3000]

Prints a table and writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MLFLOW = ROOT / ".peers" / "mlflow" / "bin"
DATA = ROOT / "examples" / "flights_sample.parquet"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_workspace(home: Path) -> dict:
    """A flights workspace whose champion is LightGBM (search limited to baseline + LightGBM)."""
    from mlpilot.pipeline import run as run_module
    from mlpilot.pipeline.apikeys import create_key
    from mlpilot.pipeline.workspace import Workspace

    original = run_module.run_search

    def lightgbm_only(*args, **kwargs):
        kwargs["families"] = ("baseline", "lightgbm")
        return original(*args, **kwargs)

    run_module.run_search = lightgbm_only
    ws = Workspace(home)
    project = ws.create_project("flights", DATA, "delayed", time_column="time_hour")
    project.approve(time="60s", cpus=1)
    project.run(max_trials=3)
    champion = project.champion()
    assert champion.family == "lightgbm", champion.family
    key = create_key(ws.store, "bench", "predict").key
    return {"key": key}


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def load(url: str, body: Path, clients: int, requests: int, headers: list[str]) -> dict:
    warm = max(200, requests // 10)
    args = [sys.executable, str(ROOT / "bench" / "loadgen.py"), "--url", url, "--body",
            str(body)] + [a for h in headers for a in ("--header", h)]
    subprocess.run([*args, "--clients", str(clients), "--requests", str(warm)], check=True,
                   capture_output=True)
    out = subprocess.run([*args, "--clients", str(clients), "--requests", str(requests)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    home = RESULTS / "serving-ws"
    info_file = home / "bench.json"
    if not info_file.exists():
        info_file.parent.mkdir(parents=True, exist_ok=True)
        info_file.write_text(json.dumps(build_workspace(home)))
    key = json.loads(info_file.read_text())["key"]

    from mlpilot.data.schema import validate_prediction_input
    from mlpilot.pipeline.workspace import Workspace

    predictor = Workspace(home).project("flights").champion().load()
    row = pd.read_parquet(DATA).iloc[[-1]].drop(columns=["delayed"])
    record = json.loads(row.to_json(orient="records", date_format="iso"))[0]
    (RESULTS / "mlpilot-body.json").write_text(json.dumps(record))
    member = predictor.members[0]
    features = member.features.transform(validate_prediction_input(row, predictor.schema))
    names = member.model.feature_name()
    (RESULTS / "mlflow-body.json").write_text(json.dumps(
        {"dataframe_split": {"columns": names, "data": features.tolist()}}))

    scenarios = []
    env = {**os.environ, "MLPILOT_HOME": str(home)}
    configs = [("mlpilot", ["--batch-max-size", "64"]),
               ("mlpilot (no micro-batching)", ["--batch-max-size", "1"])]
    for label, extra in configs:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "mlpilot.cli.main", "serve", "--port",
                                   str(port), *extra], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", server)
            for clients in (10, 50):
                result = load(f"http://127.0.0.1:{port}/v1/projects/flights/predict",
                              RESULTS / "mlpilot-body.json", clients, args.requests,
                              [f"Authorization: Bearer {key}"])
                scenarios.append({"server": label, "clients": clients, **result,
                                  "load": os.getloadavg()[0]})
                print(scenarios[-1], flush=True)
        finally:
            server.terminate()
            server.wait()

    if not args.skip_mlflow:
        model_dir = RESULTS / "mlflow-model"
        if not model_dir.exists():
            (RESULTS / "booster.txt").write_text(member.model.model_to_string())
            subprocess.run([str(MLFLOW / "python"), "-c",
                            "import lightgbm as lgb, mlflow.lightgbm, sys; "
                            "mlflow.lightgbm.save_model(lgb.Booster(model_file=sys.argv[1]), "
                            "sys.argv[2])", str(RESULTS / "booster.txt"), str(model_dir)],
                           check=True)
        port = free_port()
        server = subprocess.Popen([str(MLFLOW / "mlflow"), "models", "serve", "-m",
                                   str(model_dir), "-p", str(port), "-h", "127.0.0.1",
                                   "--env-manager", "local", "-w", "1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "PATH": f"{MLFLOW}:{os.environ['PATH']}"})
        try:
            wait_ready(f"http://127.0.0.1:{port}/ping", server)
            for clients in (10, 50):
                result = load(f"http://127.0.0.1:{port}/invocations",
                              RESULTS / "mlflow-body.json", clients, args.requests, [])
                scenarios.append({"server": "mlflow models serve", "clients": clients,
                                  **result, "load": os.getloadavg()[0]})
                print(scenarios[-1], flush=True)
        finally:
            server.terminate()
            server.wait()

    print(f"\n{'server':30} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'fail':>5}")
    for s in scenarios:
        print(f"{s['server']:30} {s['clients']:>7} {s['throughput']:>8} {s['p50_ms']:>8} "
              f"{s['p99_ms']:>8} {s['failures']:>5}")
    (RESULTS / "serving.json").write_text(json.dumps(
        {"requests": args.requests, "uptime": os.getloadavg(), "scenarios": scenarios},
        indent=2))


if __name__ == "__main__":
    main()
