"""Scale: ingest, profile and validate 1M rows x 20 columns; time and peak memory.

Goal (issue 4): ingested and profiled in <= 10 s, peak memory <= 2x the table's in-memory size.
The table (10 float, 5 integer, 4 text, 1 datetime column) is generated once with a fixed seed.
A project is created from its first 50,000 rows (target ``n0``; the schema is inferred from
them); each format is then measured four ways:

- ``ingest``: `mlpilot data ingest` itself (``ingest_batch`` on a fresh copy of that
  workspace): chunked validation against the schema, drift against the 50,000 rows, the new
  1,050,000-row dataset version streamed to canonical Parquet, profiled, hashed and stored;
- ``chunked``: ``scan_file`` (chunked profile + schema checks, nothing stored);
- ``in_memory``: ``read_table`` + ``profile_table`` + ``validate_batch`` on the whole frame;
- ``create``: `mlpilot project create` from the whole file, streamed (``create_project``:
  chunks spilled, the target checked, the schema inferred from a 50,000-row systematic sample
  and whole-column facts, the canonical table written, profiled, hashed and stored; the
  quality report waits for its first request). After the measurement the child checks that
  the stored table has the bytes the in-memory path (``read_table`` then
  ``table_to_parquet_bytes``) gives.

Each measurement runs in a fresh process; memory is the peak resident size above the
process's size just before the call (sampled every 5 ms from /proc/self/statm).

    flock /tmp/mlpilot-bench.lock .venv/bin/python bench/scale.py [--rows 1000000]

Prints a table; writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")
HEAD_ROWS = 50_000
MODES = ("ingest", "chunked", "in_memory", "create")


def make_table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data: dict[str, object] = {}
    for i in range(10):
        data[f"x{i}"] = rng.normal(i, 1 + i, rows)
    for i in range(5):
        data[f"n{i}"] = rng.integers(0, 10 ** (i + 1), rows)
    cities = np.array(["Boston", "Lyon", "Oslo", "Lima", "Pune", "Kyiv", "Rome", "Oaxaca"])
    for i in range(4):
        data[f"c{i}"] = pd.array(cities[rng.integers(0, len(cities) - i, rows)], dtype="str")
    data["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 86400 * 365, rows), unit="s")
    frame = pd.DataFrame(data)
    frame.loc[rng.random(rows) < 0.01, "x3"] = np.nan
    return frame


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def measure(path: Path, mode: str, workspace: Path) -> dict[str, object]:
    """In this process: the time and peak extra memory of one call (see MODES)."""
    from mlpilot.data.chunked import scan_file
    from mlpilot.data.profile import profile_table
    from mlpilot.data.sources import read_table, table_to_parquet_bytes
    from mlpilot.data.validate import validate_batch
    from mlpilot.pipeline.batch_ingest import ingest_batch
    from mlpilot.pipeline.workspace import Workspace

    ws = Workspace(workspace)
    schema = ws.project("scale").schema if mode != "create" else None
    base, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start = time.perf_counter()
    extra: dict[str, object] = {}
    if mode == "ingest":
        outcome = ingest_batch(ws.store, "scale", path)
        findings = len(outcome.validation["findings"])
        extra = {"accepted": outcome.accepted, "version_rows": ws.project("scale").dataset()[
            "rows"]}
    elif mode == "chunked":
        findings = len(scan_file(path, schema).findings)
    elif mode == "in_memory":
        frame = read_table(path)
        profile_table(frame)
        findings = len(validate_batch(frame, schema, None).findings)
    else:
        created = ws.create_project("whole", path, target="n0").dataset()["sha256"]
        findings = 0
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    peak[0] = max(peak[0], _rss())
    if mode == "create":  # after the measurement: the bytes the in-memory path stored
        extra = {"sha256": created, "same_bytes_as_in_memory":
                 hashlib.sha256(table_to_parquet_bytes(read_table(path))).hexdigest() == created}
    return {"seconds": seconds, "peak_extra_bytes": peak[0] - base, "findings": findings,
            **extra}


def _template(head: pd.DataFrame) -> Path:
    """A workspace with project `scale` made from the table's first rows."""
    from mlpilot.pipeline.workspace import Workspace

    folder = RESULTS / "scale-ws-template"
    shutil.rmtree(folder, ignore_errors=True)
    Workspace(folder).create_project("scale", head, target="n0")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "MODE", "WS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1], Path(args.child[2]))))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    frame = make_table(args.rows)
    table_bytes = int(frame.memory_usage(deep=True, index=False).sum())
    outputs = {}
    for fmt in ("parquet", "csv"):
        path = RESULTS / f"scale_{args.rows}.{fmt}"
        if not path.exists():
            frame.to_parquet(path) if fmt == "parquet" else frame.to_csv(path, index=False)
        outputs[fmt] = path
    template = _template(frame.iloc[:HEAD_ROWS])
    del frame
    rows, results = [], {"rows": args.rows, "columns": 20, "table_bytes": table_bytes,
                         "project_rows": HEAD_ROWS, "load_average": os.getloadavg(),
                         "runs": []}
    workspace = RESULTS / "scale-ws-run"
    for fmt, path in outputs.items():
        for mode in args.modes.split(","):
            shutil.rmtree(workspace, ignore_errors=True)
            shutil.copytree(template, workspace)
            out = subprocess.run([sys.executable, __file__, "--child", str(path), mode,
                                  str(workspace)], check=True, capture_output=True,
                                 text=True).stdout
            got = json.loads(out.strip().splitlines()[-1])
            ratio = got["peak_extra_bytes"] / table_bytes
            results["runs"].append({"format": fmt, "mode": mode, **got, "memory_ratio": ratio,
                                    "file_bytes": path.stat().st_size})
            rows.append((fmt, mode, f"{got['seconds']:.2f}",
                         f"{got['peak_extra_bytes'] / 2**20:,.0f}", f"{ratio:.2f}",
                         "yes" if got["seconds"] <= 10 and ratio <= 2 else "no",
                         {True: "yes", False: "NO"}.get(got.get("same_bytes_as_in_memory"),
                                                       "")))
    shutil.rmtree(workspace, ignore_errors=True)
    shutil.rmtree(template, ignore_errors=True)
    results["load_average_after"] = os.getloadavg()
    print(f"{args.rows:,} rows x 20 columns; in-memory table {table_bytes / 2**20:,.0f} MiB; "
          f"load average {results['load_average'][0]:.2f} before, "
          f"{results['load_average_after'][0]:.2f} after")
    print(f"{'file':>8} | {'mode':>9} | {'seconds':>7} | {'peak MiB':>8} | {'x table':>7} | "
          "goal | bytes as in memory")
    for row in rows:
        print(f"{row[0]:>8} | {row[1]:>9} | {row[2]:>7} | {row[3]:>8} | {row[4]:>7} | "
              f"{row[5]:>4} | {row[6]}")
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
