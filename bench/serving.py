"""Online serving: mlpilot vs `mlflow models serve`, the same LightGBM model, one row per request.

Both servers run with one worker on loopback; load comes from a separate process with
keep-alive connections and a bounded request count: `wrk` (C, one thread, so the load generator
takes little of this 2-core machine) driven by a Lua script that stops after N answers, or
bench/loadgen.py (Python asyncio) when wrk is not installed (`apt-get install -y wrk`). Each
scenario gets a warm-up run first. mlpilot is measured as deployed: API key check, schema
validation of the raw record, the trained preprocessing, micro-batching and the durable
prediction log. MLflow gets the already preprocessed feature row (its LightGBM flavour cannot run
mlpilot's preprocessing), so it does strictly less work per request.

The machine is shared: before each scenario the script waits (up to --max-wait seconds) for the
1-minute load average to drop below --max-load, and records the load it got with each figure.

    make peers-mlflow        # MLflow in .peers/mlflow, never in .venv
    flock /tmp/mlpilot-bench.lock python bench/serving.py [--requests 5000] [--sweep]

``--sweep`` also measures micro-batching settings (max batch size 1/16/64/256, max wait 0/1 ms).
Prints a table and writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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


WRK_SCRIPT = r"""
-- POST a fixed JSON body; print LIMIT after N answers (the caller then stops wrk with SIGINT,
-- which makes wrk report over the time actually run); print a JSON summary line.
local limit, count = 0, 0
function init(args)
  limit = tonumber(args[1])
  local f = assert(io.open(args[2], "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
  if args[3] then wrk.headers["Authorization"] = args[3] end
end
function response(status, headers, body)
  count = count + 1
  if count == limit then
    io.write("LIMIT\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format('JSONRESULT {"requests": %d, "failures": %d, "seconds": %.3f, ' ..
    '"throughput": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, e.status + e.connect + e.read + e.write + e.timeout, s,
    summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


def wait_for_quiet(max_load: float, max_wait: float) -> float:
    """Sleep until the 1-minute load average is below ``max_load`` (at most ``max_wait`` s)."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return round(os.getloadavg()[0], 2)


def run_wrk(url: str, body: Path, clients: int, requests: int, headers: list[str]) -> dict:
    script = RESULTS / "wrk-bounded.lua"
    script.write_text(WRK_SCRIPT)
    auth = [h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("authorization")]
    process = subprocess.Popen(["wrk", "-t1", f"-c{clients}", "-d600s", "--latency", "-s",
                                str(script), url, "--", str(requests), str(body), *auth],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    result = None
    for line in process.stdout:
        if line.startswith("LIMIT"):
            process.send_signal(signal.SIGINT)
        elif line.startswith("JSONRESULT"):
            result = json.loads(line.split(" ", 1)[1])
    process.wait()
    if result is None:
        raise RuntimeError("wrk printed no result")
    return result


def run_loadgen(url: str, body: Path, clients: int, requests: int, headers: list[str]) -> dict:
    args = [sys.executable, str(ROOT / "bench" / "loadgen.py"), "--url", url, "--body",
            str(body)] + [a for h in headers for a in ("--header", h)]
    out = subprocess.run([*args, "--clients", str(clients), "--requests", str(requests)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def load(url: str, body: Path, clients: int, requests: int, headers: list[str]) -> dict:
    """Warm up, then one measured run of ``requests`` requests from ``clients`` connections."""
    tool = run_wrk if shutil.which("wrk") else run_loadgen
    tool(url, body, clients, max(500, requests // 5), headers)
    result = tool(url, body, clients, requests, headers)
    result["loadgen"] = "wrk" if tool is run_wrk else "loadgen.py"
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="also sweep micro-batching")
    parser.add_argument("--default-only", action="store_true",
                        help="mlpilot with its default settings only (no --batch-max-size 1)")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=180.0)
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
    if args.default_only:
        configs = configs[:1]
    if args.sweep:
        configs += [(f"mlpilot batch {size} wait {wait}", ["--batch-max-size", str(size),
                                                          "--batch-max-wait-ms", str(wait)])
                    for size, wait in ((16, 0), (256, 0), (64, 1))]
    for label, extra in configs:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "mlpilot.cli.main", "serve", "--port",
                                   str(port), *extra], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", server)
            for clients in (10, 50):
                quiet = wait_for_quiet(args.max_load, args.max_wait)
                result = load(f"http://127.0.0.1:{port}/v1/projects/flights/predict",
                              RESULTS / "mlpilot-body.json", clients, args.requests,
                              [f"Authorization: Bearer {key}"])
                scenarios.append({"server": label, "clients": clients, **result,
                                  "load_before": quiet, "load_after": os.getloadavg()[0]})
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
                quiet = wait_for_quiet(args.max_load, args.max_wait)
                result = load(f"http://127.0.0.1:{port}/invocations",
                              RESULTS / "mlflow-body.json", clients, args.requests, [])
                scenarios.append({"server": "mlflow models serve", "clients": clients,
                                  **result, "load_before": quiet,
                                  "load_after": os.getloadavg()[0]})
                print(scenarios[-1], flush=True)
        finally:
            server.terminate()
            server.wait()

    print(f"\n{'server':30} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'fail':>5} {'load':>5}")
    for s in scenarios:
        print(f"{s['server']:30} {s['clients']:>7} {s['throughput']:>8} {s['p50_ms']:>8} "
              f"{s['p99_ms']:>8} {s['failures']:>5} {s['load_before']:>5}")
    (RESULTS / "serving.json").write_text(json.dumps(
        {"requests": args.requests, "uptime": os.getloadavg(), "scenarios": scenarios},
        indent=2))


if __name__ == "__main__":
    main()
