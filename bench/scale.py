"""Scale: profile and validate 1M rows x 20 columns in chunks; time and peak memory.

Goal (issue 4): ingested and profiled in <= 10 s, peak memory <= 2x the table's in-memory size.
The table (10 float, 5 integer, 4 text, 1 datetime column) is generated once with a fixed seed;
the schema is inferred from its first 50,000 rows, as at project creation. Each measurement runs
in a fresh process; memory is the peak resident size above the process's size just before the
call (sampled every 5 ms from /proc/self/statm).

    flock /tmp/mlpilot-bench.lock .venv/bin/python bench/scale.py [--rows 1000000]

Prints a table; writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
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


def measure(path: Path, mode: str) -> dict[str, float]:
    """In this process: the time and peak extra memory of one scan ('chunked' or 'in_memory')."""
    from mlpilot.data.chunked import scan_file
    from mlpilot.data.profile import profile_table
    from mlpilot.data.schema import infer_schema
    from mlpilot.data.sources import read_table
    from mlpilot.data.validate import validate_batch

    schema = infer_schema(pd.read_parquet(path.with_suffix(".parquet")).iloc[:50_000],
                          target="n0")
    base, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start = time.perf_counter()
    if mode == "chunked":
        result = scan_file(path, schema)
        findings = len(result.findings)
    else:
        frame = read_table(path)
        profile_table(frame)
        findings = len(validate_batch(frame, schema, None).findings)
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    peak[0] = max(peak[0], _rss())
    return {"seconds": seconds, "peak_extra_bytes": peak[0] - base, "findings": findings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1])))
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
    del frame
    rows, results = [], {"rows": args.rows, "columns": 20, "table_bytes": table_bytes,
                         "runs": []}
    for fmt, path in outputs.items():
        for mode in ("chunked", "in_memory"):
            out = subprocess.run([sys.executable, __file__, "--child", str(path), mode],
                                 check=True, capture_output=True, text=True).stdout
            got = json.loads(out.strip().splitlines()[-1])
            ratio = got["peak_extra_bytes"] / table_bytes
            results["runs"].append({"format": fmt, "mode": mode, **got, "memory_ratio": ratio,
                                    "file_bytes": path.stat().st_size})
            rows.append((fmt, mode, f"{got['seconds']:.2f}",
                         f"{got['peak_extra_bytes'] / 2**20:,.0f}", f"{ratio:.2f}",
                         "yes" if got["seconds"] <= 10 and ratio <= 2 else "no"))
    print(f"{args.rows:,} rows x 20 columns; in-memory table {table_bytes / 2**20:,.0f} MiB")
    print(f"{'file':>8} | {'mode':>9} | {'seconds':>7} | {'peak MiB':>8} | {'x table':>7} | goal")
    for row in rows:
        print(f"{row[0]:>8} | {row[1]:>9} | {row[2]:>7} | {row[3]:>8} | {row[4]:>7} | {row[5]}")
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
