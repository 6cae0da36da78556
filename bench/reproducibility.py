"""Reproducibility matrix: every shared dataset x 3 seeds, each run replayed and re-searched.

For each dataset of ``../shared/datasets/catalog.json`` and each seed, a project is created
(seed = the project seed; the first datetime column, if any, orders the split), its budget is
approved with plenty of time (so no trial is cut by its deadline) and one run with a
trial-count budget (``--max-trials``) is made. The run is then reproduced twice into new runs:
by replaying its recorded trial sequence, and from scratch (searching again). Each
reproduction compares the split, every trial score, the chosen trial, the model artifact
sha256, the raw test predictions (bit for bit) and the test metrics. Finally one run is
exported as a bundle and re-created in a fresh workspace.

Tables larger than ``--max-rows`` (default 5,000) are subsampled (every k-th row, in stored
order) to keep the matrix inside 15 minutes on two shared cores; the subsample is deterministic.

Usage:
    flock /tmp/mlpilot-bench.lock python bench/reproducibility.py [--seeds 0 1 2]
        [--max-trials 3] [--max-rows 5000] [--datasets a b ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent.parent / "shared" / "datasets"
RESULTS = HERE / "results"


def subsample(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    step = -(-len(frame) // max_rows)
    return frame.iloc[::step].reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-trials", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=5_000)
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()

    from mlpilot.pipeline.bundle import export_bundle, import_bundle, read_bundle
    from mlpilot.pipeline.reproduce import reproduce_recorded, reproduce_run
    from mlpilot.pipeline.workspace import Workspace

    catalog = json.loads((DATASETS / "catalog.json").read_text())
    names = args.datasets or list(catalog)
    root = Path(tempfile.mkdtemp(prefix="mlpilot-repro-"))
    ws = Workspace(root / "ws")
    rows: list[dict] = []
    started = time.monotonic()
    first_run: tuple[str, str] | None = None
    print(f"{'dataset':16} {'seed':>4} {'rows':>7} {'trials':>6} {'chosen':>12} "
          f"{'run s':>6} {'replay':>10} {'s':>5} {'scratch':>10} {'s':>5}")
    for name in names:
        info = catalog[name]
        frame = subsample(pd.read_parquet(DATASETS / f"{name}.parquet"), args.max_rows)
        time_column = (info.get("datetime_columns") or [None])[0]
        for seed in args.seeds:
            project = ws.create_project(f"{name.replace('_', '-')}-s{seed}", frame,
                                        info["target"], task=info["task"],
                                        time_column=time_column, seed=seed)
            project.approve(time="30m", cpus=args.cpus)
            t0 = time.monotonic()
            outcome = project.run(max_trials=args.max_trials)
            run_s = time.monotonic() - t0
            run = project.get_run(outcome.run_id)
            chosen = project.model(outcome.model_version).family
            t0 = time.monotonic()
            replay = reproduce_run(ws.store, outcome.run_id)
            replay_s = time.monotonic() - t0
            t0 = time.monotonic()
            scratch = reproduce_run(ws.store, outcome.run_id, from_scratch=True)
            scratch_s = time.monotonic() - t0
            first_run = first_run or (project.name, outcome.run_id)
            row = {"dataset": name, "seed": seed, "rows": len(frame), "task": info["task"],
                   "trials": len(run.trials), "chosen": chosen,
                   "run_seconds": round(run_s, 2),
                   "replay": replay.verdict, "replay_where": replay.where,
                   "replay_seconds": round(replay_s, 2),
                   "scratch": scratch.verdict, "scratch_where": scratch.where,
                   "scratch_seconds": round(scratch_s, 2),
                   "environment_differences": len(replay.environment)}
            rows.append(row)
            print(f"{name:16} {seed:>4} {len(frame):>7} {len(run.trials):>6} {chosen:>12} "
                  f"{run_s:>6.1f} {replay.verdict:>10} {replay_s:>5.1f} "
                  f"{scratch.verdict:>10} {scratch_s:>5.1f}"
                  + ("" if replay.identical and scratch.identical else
                     f"   where: {replay.where or ''} {scratch.where or ''}"), flush=True)

    bundle_row: dict = {}
    if first_run is not None:
        bundle = root / "bundle.tar.gz"
        t0 = time.monotonic()
        exported = export_bundle(ws.store, first_run[1], bundle)
        fresh = Workspace(root / "fresh")
        recorded = import_bundle(fresh.store, read_bundle(bundle))
        result = reproduce_recorded(fresh.store, recorded)
        bundle_row = {"project": first_run[0], "run": first_run[1], "bytes": exported.bytes,
                      "verdict": result.verdict, "where": result.where,
                      "seconds": round(time.monotonic() - t0, 2)}
        print(f"\nbundle of {first_run[0]} run {first_run[1]} ({exported.bytes:,} bytes) "
              f"re-created in a fresh workspace: {result.verdict} "
              f"({bundle_row['seconds']} s)")

    total = len(rows) * 2
    identical = sum(r["replay"] == "identical" for r in rows) + \
        sum(r["scratch"] == "identical" for r in rows)
    elapsed = time.monotonic() - started
    print(f"\n{identical}/{total} reproductions identical ({100 * identical / max(1, total):.0f}%)"
          f" over {len(rows)} runs; {elapsed:.0f} s in all; load {os.getloadavg()}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "reproducibility.json"
    out.write_text(json.dumps({"rows": rows, "bundle": bundle_row, "identical": identical,
                               "total": total, "seconds": round(elapsed, 1),
                               "max_trials": args.max_trials, "max_rows": args.max_rows,
                               "seeds": args.seeds}, indent=2))
    print(f"wrote {out}")
    return 0 if identical == total and bundle_row.get("verdict") == "identical" else 1


if __name__ == "__main__":
    sys.exit(main())
