"""Batch prediction: rows/s of `mlpilot predict` against the raw LightGBM model's predict, and
peak memory of `mlpilot predict` as the file grows (it streams in chunks, so it should stay flat).

Uses the LightGBM workspace that bench/serving.py builds (bench/results/serving-ws). The input
is the flights sample repeated to each size, as Parquet. "raw" is Booster.predict on the feature
matrix already in memory (no file reading, no checks, no preprocessing, no writing): the ceiling.

    flock /tmp/mlpilot-bench.lock python bench/batch.py --rows 1000000 2000000 10000000

Prints a table and writes bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "examples" / "flights_sample.parquet"


def make_file(rows: int) -> Path:
    path = RESULTS / f"batch-{rows}.parquet"
    if not path.exists():
        base = pd.read_parquet(DATA).drop(columns=["delayed"])
        reps = -(-rows // len(base))
        pd.concat([base] * reps, ignore_index=True).iloc[:rows].to_parquet(path)
    return path


def run_cli(home: Path, source: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of `mlpilot predict` in a child process."""
    out = RESULTS / "batch-out.parquet"
    start = time.perf_counter()
    code = ("import resource, sys; from mlpilot.cli.main import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "predict", "flights", "--input",
                           str(source), "--output", str(out)], check=True, capture_output=True,
                          text=True, env={**os.environ, "MLPILOT_HOME": str(home)})
    seconds = time.perf_counter() - start
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def raw_rate(home: Path, source: Path) -> float:
    from mlpilot.data.schema import validate_prediction_input
    from mlpilot.pipeline.workspace import Workspace

    predictor = Workspace(home).project("flights").champion().load()
    member = predictor.members[0]
    frame = pd.read_parquet(source)
    matrix = member.features.transform(validate_prediction_input(frame, predictor.schema))
    start = time.perf_counter()
    member.model.predict(matrix)
    return len(frame) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[500_000, 1_000_000, 2_000_000])
    parser.add_argument("--raw-rows", type=int, default=500_000,
                        help="size for the raw predict rate (held fully in memory)")
    args = parser.parse_args()
    home = RESULTS / "serving-ws"
    if not (home / "bench.json").exists():
        sys.exit("run bench/serving.py first (it builds the LightGBM workspace)")
    raw = raw_rate(home, make_file(args.raw_rows))
    results = []
    for rows in args.rows:
        seconds, peak = run_cli(home, make_file(rows))
        results.append({"rows": rows, "seconds": round(seconds, 2),
                        "rows_per_s": round(rows / seconds), "peak_rss_mib": round(peak),
                        "ratio_to_raw": round(rows / seconds / raw, 3),
                        "load": os.getloadavg()[0]})
        print(results[-1], flush=True)
    print(f"\nraw Booster.predict: {raw:,.0f} rows/s")
    print(f"{'rows':>10} {'rows/s':>10} {'x raw':>7} {'peak MiB':>9}")
    for r in results:
        print(f"{r['rows']:>10,} {r['rows_per_s']:>10,} {r['ratio_to_raw']:>7} "
              f"{r['peak_rss_mib']:>9}")
    (RESULTS / "batch.json").write_text(json.dumps(
        {"raw_rows_per_s": raw, "results": results, "self_peak_rss_mib":
         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, indent=2))


if __name__ == "__main__":
    main()
