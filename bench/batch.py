"""Batch prediction: rows/s and peak memory of mlpilot's batch path against the baseline.

The baseline is what a user writes without mlpilot for the same job on the same file
(bench/batch_baseline.py): read the file with pyarrow/pandas (feature columns, categories as
categoricals), prepare LightGBM's input the way the model was trained, call the native
``Booster.predict`` (all cores), write label and probabilities with pandas. The bench checks
that its output equals mlpilot's, value for value. The model-only figure, ``Booster.predict``
on a matrix already prepared in memory (no reading, checks, preprocessing or writing), is
reported too, as the ceiling.

Uses the LightGBM champion of the workspace bench/serving.py builds (bench/results/serving-ws);
its native model and feature steps are written for the baseline to /tmp/mlpilot-bench. Inputs
are the flights sample repeated to each size (Parquet in 1M-row groups, and CSV), under
/tmp/mlpilot-bench, never in the repo. Every measurement runs in a fresh child process, its
peak RSS taken from the kernel (``wait4``):

- ``api``: ``pipeline.predict.predict_file`` timed after imports and model load (a
  long-running job's cost per row); ``baseline_api``: the baseline's ``predict_file`` likewise;
- ``cli``: the whole ``mlpilot predict`` command (interpreter start, imports, workspace,
  model load, read, score, write); ``baseline_cli``: the whole
  ``python bench/batch_baseline.py`` process;
- ``model_only``: ``Booster.predict`` on the first 1M rows, prepared: best of 7 on every core
  (LightGBM's default) and best of 5 on one, before each file size; the best is kept.

Each is repeated (--repeat, alternating) and the median kept; all runs are recorded. The
machine is shared: before each round the script waits (up to --max-wait s) for the 1-minute
load average to fall under --max-load and records the load it got.

    flock /tmp/mlpilot-bench.lock .venv/bin/python bench/batch.py

Prints a table and writes bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
HOME = RESULTS / "serving-ws"
DATA = ROOT / "examples" / "flights_sample.parquet"
FILES = Path("/tmp/mlpilot-bench")
BASELINE_MODEL = FILES / "baseline-model"

CHILD_API = """
import json, sys, time
from pathlib import Path
from mlpilot.pipeline.predict import predict_file
from mlpilot.pipeline.workspace import Workspace
predictor = Workspace(Path(sys.argv[1])).project("flights").champion().load()
start = time.perf_counter()
result = predict_file(predictor, Path(sys.argv[2]), Path(sys.argv[3]))
print(json.dumps({"rows": result.rows, "seconds": time.perf_counter() - start}))
"""

CHILD_BASELINE_API = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
import batch_baseline
booster, prep = batch_baseline.load(Path(sys.argv[1]))
start = time.perf_counter()
rows = batch_baseline.predict_file(booster, prep, Path(sys.argv[2]), Path(sys.argv[3]))
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
"""

CHILD_MODEL_ONLY = """
import json, sys, time
from pathlib import Path
import pyarrow.parquet as pq
sys.path.insert(0, sys.argv[4])
import batch_baseline
booster, prep = batch_baseline.load(Path(sys.argv[1]))
frame = pq.ParquetFile(sys.argv[2]).read_row_group(0).slice(0, int(sys.argv[3])).to_pandas()
matrix = batch_baseline.features(frame, prep)
best = {}
for threads, repeats in ((0, 7), (1, 5)):  # 0: LightGBM's default, every core
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        booster.predict(matrix, num_threads=threads)
        times.append(time.perf_counter() - start)
    best[threads] = min(times)
print(json.dumps({"rows": len(frame), "rows_per_s": len(frame) / best[0],
                  "one_thread_rows_per_s": len(frame) / best[1]}))
"""

CHILD_EXPORT = """
import json, sys
from pathlib import Path
from mlpilot.models.registry import get_adapter
from mlpilot.pipeline.workspace import Workspace
predictor = Workspace(Path(sys.argv[1])).project("flights").champion().load()
(member,) = predictor.members
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
(out / "model.txt").write_bytes(get_adapter(member.family).dump(member.model))
(out / "prep.json").write_text(json.dumps({"steps": member.features.steps_,
                                           "classes": predictor.classes,
                                           "threshold": predictor.threshold}))
print(json.dumps({"family": member.family, "trees": member.model.num_trees(),
                  "features": len(member.features.feature_names_)}))
"""


def make_file(rows: int, suffix: str) -> Path:
    """The flights sample (no target) repeated to ``rows`` rows: Parquet in 1M-row groups, or
    CSV written by pyarrow from that Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    FILES.mkdir(parents=True, exist_ok=True)
    path = FILES / f"batch-{rows}{suffix}"
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".csv":
        pa_csv.write_csv(pq.read_table(make_file(rows, ".parquet")), tmp)
    else:
        base = pq.read_table(DATA).drop_columns(["delayed"])
        group = pa.concat_tables([base] * (1_000_000 // base.num_rows)).combine_chunks()
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


def _high_water_kib(pid: int) -> int | None:
    """The process's peak resident set so far (``VmHWM``), None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


MLPILOT_SRC: str | None = None  # --src: run mlpilot from another checkout's src (before/after)


def spawn(args: list[str]) -> dict[str, Any]:
    """Run a child to completion: wall seconds, peak RSS and its last JSON line.

    The peak is the child's own ``VmHWM`` (polled every 10 ms; a high-water mark, so nothing
    between polls is lost), not ``ru_maxrss``: Linux carries the forking parent's resident
    size into a child's ``ru_maxrss`` across exec, which made every child look as big as this
    script (which reads the files it compares).
    """
    env = {**os.environ, "MLPILOT_HOME": str(HOME)}
    if MLPILOT_SRC is not None:
        env["PYTHONPATH"] = MLPILOT_SRC
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, env=env)  # returns after exec
        peak = 0
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _high_water_kib(process.pid) or 0)
            time.sleep(0.01)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if process.returncode != 0:
            raise RuntimeError(f"{args[:3]} failed ({process.returncode}): "
                               f"{err.read().decode()[-2000:]}")
    last = text.strip().splitlines()[-1] if text.strip() else "{}"
    report = json.loads(last) if last.startswith("{") else {}
    return {"wall": wall, "peak_rss_mib": peak / 1024, **report}


def measure(kind: str, source: Path, rows: int) -> dict[str, Any]:
    """One run of ``kind`` on ``source``: rows/s and peak RSS."""
    out = FILES / f"out-{kind}{source.suffix}"
    python = sys.executable
    if kind == "api":
        got = spawn([python, "-c", CHILD_API, str(HOME), str(source), str(out)])
    elif kind == "baseline_api":
        got = spawn([python, "-c", CHILD_BASELINE_API, str(BASELINE_MODEL), str(source),
                     str(out), str(BENCH)])
    elif kind == "cli":
        mlpilot = str(Path(python).parent / "mlpilot")
        got = spawn([mlpilot, "predict", "flights", "--input", str(source), "--output",
                     str(out)])
    else:
        got = spawn([python, str(BENCH / "batch_baseline.py"), str(BASELINE_MODEL),
                     str(source), str(out)])
    seconds = got["seconds"] if "seconds" in got else got["wall"]
    if got.get("rows", rows) != rows:
        raise RuntimeError(f"{kind} scored {got['rows']} rows of {rows}")
    return {"seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "peak_rss_mib": round(got["peak_rss_mib"])}


def outputs_identical(suffix: str) -> bool:
    import pandas as pd

    def read(path: Path) -> pd.DataFrame:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)

    ours = read(FILES / f"out-api{suffix}")
    theirs = read(FILES / f"out-baseline_api{suffix}")
    return bool(ours.shape == theirs.shape and (ours.columns == theirs.columns).all()
                and all((ours[c].to_numpy() == theirs[c].to_numpy()).all() for c in ours))


KINDS = ("api", "baseline_api", "cli", "baseline_cli")


def code_state() -> dict[str, Any]:
    """The commit measured and the source files that differed from it (a shared checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    return {"commit": git("rev-parse", "HEAD").strip(),
            "modified": [line[3:] for line in git("status", "--porcelain", "src").splitlines()]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+",
                        default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--csv-rows", type=int, nargs="*", default=[1_000_000, 3_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model-only-rows", type=int, default=1_000_000)
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=120.0)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--src", help="an older checkout's src folder: measure its mlpilot "
                                      "(e.g. `git worktree add /tmp/before COMMIT`)")
    parser.add_argument("--out", default="batch.json", help="file name under bench/results")
    args = parser.parse_args()
    global MLPILOT_SRC
    MLPILOT_SRC = args.src
    kinds = tuple(args.kinds)
    if not (HOME / "bench.json").exists():
        sys.exit("run bench/serving.py first (it builds the LightGBM workspace)")
    model = spawn([sys.executable, "-c", CHILD_EXPORT, str(HOME), str(BASELINE_MODEL)])
    cases = [(".parquet", rows) for rows in sorted(set(args.rows))]
    cases += [(".csv", rows) for rows in sorted(set(args.csv_rows))]
    sources = {case: make_file(case[1], case[0]) for case in cases}
    model_only: dict[str, Any] = {"rows_per_s": 0, "runs": []}

    def measure_model_only(load: float) -> None:
        """Booster.predict on prepared rows: the best of 7 (all cores) and of 5 (one core);
        taken before each round, the best kept (the fairest ceiling on a shared machine)."""
        got = spawn([sys.executable, "-c", CHILD_MODEL_ONLY, str(BASELINE_MODEL),
                     str(sources[(".parquet", min(args.rows))]), str(args.model_only_rows),
                     str(BENCH)])
        run = {"rows_per_s": round(got["rows_per_s"]),
               "one_thread_rows_per_s": round(got["one_thread_rows_per_s"]), "load": load}
        model_only["runs"].append(run)
        if run["rows_per_s"] > model_only["rows_per_s"]:
            model_only.update(rows=got["rows"], rows_per_s=run["rows_per_s"],
                              one_thread_rows_per_s=run["one_thread_rows_per_s"], load=load)
        print("model only", run, flush=True)

    results = []
    for (suffix, rows), source in sources.items():
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        loads = []
        for i in range(args.repeat):
            loads.append(wait_for_quiet(args.max_load, args.max_wait))
            if i == 0:
                measure_model_only(loads[-1])
            for kind in (kinds if i % 2 == 0 else kinds[::-1]):
                runs[kind].append(measure(kind, source, rows))
        loads.append(round(os.getloadavg()[0], 2))
        median = {kind: {"rows_per_s": round(statistics.median(r["rows_per_s"] for r in rs)),
                         "peak_rss_mib": max(r["peak_rss_mib"] for r in rs)}
                  for kind, rs in runs.items()}
        entry: dict[str, Any] = {"format": suffix[1:], "rows": rows, "load": loads,
                                 "median": median, "runs": runs}
        if {"api", "baseline_api"} <= set(kinds):
            entry["identical_to_baseline"] = outputs_identical(suffix)
        for kind in ("api", "cli"):
            if {kind, f"baseline_{kind}"} <= set(kinds):
                entry[f"{kind}_vs_baseline"] = round(
                    median[kind]["rows_per_s"] / median[f"baseline_{kind}"]["rows_per_s"], 2)
        results.append(entry)
        print({k: v for k, v in entry.items() if k != "runs"}, flush=True)
    for entry in results:  # against the best model-only figure of the whole session
        for kind in ("api", "cli"):
            if kind in kinds:
                entry[f"{kind}_vs_model_only"] = round(
                    entry["median"][kind]["rows_per_s"] / model_only["rows_per_s"], 2)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "model": model, "code": code_state()}
    print(f"\nmodel only (Booster.predict, {model_only['rows']:,} prepared rows in memory): "
          f"{model_only['rows_per_s']:,} rows/s on every core, "
          f"{model_only['one_thread_rows_per_s']:,} on one (load {model_only['load']})")
    print(f"{'rows':>10} {'file':>7} {'kind':>12} {'rows/s':>10} {'x base':>6} "
          f"{'x model':>7} {'MiB':>5}  load")
    for r in results:
        for kind, m in r["median"].items():
            ratio = r.get(f"{kind}_vs_baseline", "")
            print(f"{r['rows']:>10,} {r['format']:>7} {kind:>12} {m['rows_per_s']:>10,} "
                  f"{ratio!s:>6} {r.get(f'{kind}_vs_model_only', '')!s:>7} "
                  f"{m['peak_rss_mib']:>5}  {r['load']}")
    (RESULTS / args.out).write_text(json.dumps(
        {"machine": machine, "src": args.src, "model_only": model_only, "results": results},
        indent=2))


if __name__ == "__main__":
    main()
