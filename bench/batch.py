"""Batch prediction: rows/s of `mlpilot predict` against the raw LightGBM model's predict, and
peak memory of `mlpilot predict` as the file grows (it streams in chunks, so it should stay flat).

Uses the LightGBM workspace that bench/serving.py builds (bench/results/serving-ws). The inputs
are the flights sample repeated to each size, as Parquet under /tmp/mlpilot-bench (never in the
repo). For each size, in fresh child processes:

- ``cli``: the whole `mlpilot predict` command (interpreter start, imports, model load, read,
  preprocess, predict, write), its wall time and peak RSS (``ru_maxrss``);
- ``predict_file``: the same streaming function timed inside a child after the model is
  loaded (what a long-running batch job pays per row), and its peak RSS;
- ``raw``: LightGBM's ``Booster.predict`` on the feature matrix of the first --raw-rows rows,
  already preprocessed and in memory (no reading, checks, preprocessing or writing), same
  threads: the ceiling.

The machine is shared: before each measurement the script waits (up to --max-wait seconds)
for the 1-minute load average to drop below --max-load and records the load it got.

    flock /tmp/mlpilot-bench.lock python bench/batch.py --rows 1000000 3000000 10000000

Prints a table and writes bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "examples" / "flights_sample.parquet"
FILES = Path("/tmp/mlpilot-bench")

CHILD_PREDICT_FILE = """
import json, resource, sys, time
from pathlib import Path
from mlpilot.pipeline.predict import predict_file
from mlpilot.pipeline.workspace import Workspace
predictor = Workspace(Path(sys.argv[1])).project("flights").champion().load()
start = time.perf_counter()
result = predict_file(predictor, Path(sys.argv[2]), Path(sys.argv[3]))
seconds = time.perf_counter() - start
print(json.dumps({"rows": result.rows, "seconds": seconds,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_RAW = """
import json, sys, time
from pathlib import Path
import pyarrow.parquet as pq
from mlpilot.data.schema import validate_prediction_input
from mlpilot.pipeline.workspace import Workspace
predictor = Workspace(Path(sys.argv[1])).project("flights").champion().load()
member = predictor.members[0]
frame = pq.ParquetFile(sys.argv[2]).read_row_groups([0]).slice(0, int(sys.argv[3])).to_pandas()
matrix = member.features.transform(validate_prediction_input(frame, predictor.schema))
best = []
for _ in range(3):
    start = time.perf_counter()
    member.model.predict(matrix)
    best.append(time.perf_counter() - start)
print(json.dumps({"rows": len(frame), "seconds": min(best), "rows_per_s": len(frame) / min(best)}))
"""


def make_file(rows: int) -> Path:
    """The flights sample repeated to ``rows`` rows, written in 1M-row groups (pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    FILES.mkdir(parents=True, exist_ok=True)
    path = FILES / f"batch-{rows}.parquet"
    if path.exists():
        return path
    base = pq.read_table(DATA).drop_columns(["delayed"])
    group = pa.concat_tables([base] * (1_000_000 // base.num_rows)).combine_chunks()
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, base.schema) as writer:
        left = rows
        while left > 0:
            part = group.slice(0, min(left, group.num_rows))
            writer.write_table(part, row_group_size=1_000_000)
            left -= part.num_rows
    tmp.rename(path)
    return path


def wait_for_quiet(max_load: float, max_wait: float) -> float:
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return round(os.getloadavg()[0], 2)


def child(code: str, *args: str, home: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                          text=True, env={**os.environ, "MLPILOT_HOME": str(home)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(home: Path, source: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of the whole `mlpilot predict` command in a child process."""
    out = FILES / "batch-out.parquet"
    code = ("import resource, sys; from mlpilot.cli.main import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "predict", "flights", "--input",
                           str(source), "--output", str(out)], check=True, capture_output=True,
                          text=True, env={**os.environ, "MLPILOT_HOME": str(home)})
    seconds = time.perf_counter() - start
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000,
                                                                10_000_000])
    parser.add_argument("--raw-rows", type=int, default=1_000_000,
                        help="rows for the raw predict rate (held fully in memory)")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=180.0)
    args = parser.parse_args()
    home = RESULTS / "serving-ws"
    if not (home / "bench.json").exists():
        sys.exit("run bench/serving.py first (it builds the LightGBM workspace)")
    files = {rows: make_file(rows) for rows in sorted(set(args.rows))}
    quiet = wait_for_quiet(args.max_load, args.max_wait)
    raw = child(CHILD_RAW, str(home), str(files[max(files)]), str(args.raw_rows), home=home)
    raw.update(load_before=quiet, load_after=round(os.getloadavg()[0], 2))
    print("raw", raw, flush=True)
    results = []
    for rows, source in files.items():
        quiet = wait_for_quiet(args.max_load, args.max_wait)
        inner = child(CHILD_PREDICT_FILE, str(home), str(source),
                      str(FILES / "batch-out-inner.parquet"), home=home)
        seconds, peak = run_cli(home, source)
        results.append({
            "rows": rows, "load_before": quiet, "load_after": round(os.getloadavg()[0], 2),
            "predict_file_rows_per_s": round(rows / inner["seconds"]),
            "predict_file_ratio": round(rows / inner["seconds"] / raw["rows_per_s"], 3),
            "predict_file_peak_rss_mib": round(inner["peak_rss_mib"]),
            "cli_seconds": round(seconds, 2), "cli_rows_per_s": round(rows / seconds),
            "cli_ratio": round(rows / seconds / raw["rows_per_s"], 3),
            "cli_peak_rss_mib": round(peak)})
        print(results[-1], flush=True)
    print(f"\nraw Booster.predict: {raw['rows_per_s']:,.0f} rows/s (load {raw['load_before']})")
    print(f"{'rows':>11} {'file rows/s':>11} {'x raw':>6} {'MiB':>5} {'cli rows/s':>11} "
          f"{'x raw':>6} {'MiB':>5} {'load':>5}")
    for r in results:
        print(f"{r['rows']:>11,} {r['predict_file_rows_per_s']:>11,} "
              f"{r['predict_file_ratio']:>6} {r['predict_file_peak_rss_mib']:>5} "
              f"{r['cli_rows_per_s']:>11,} {r['cli_ratio']:>6} {r['cli_peak_rss_mib']:>5} "
              f"{r['load_before']:>5}")
    (RESULTS / "batch.json").write_text(json.dumps({"raw": raw, "results": results}, indent=2))


if __name__ == "__main__":
    main()
