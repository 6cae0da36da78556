"""Drift detection: false alarms on no-drift samples and detection of injected shifts, mlpilot
side by side with Evidently's default DataDriftPreset on the very same samples.

Samples are bootstrap draws from the flights example (real distributions, any size): a
reference and a current sample of n rows each, n in 1k, 10k, 100k. The current sample also
carries shifted copies of `distance` (mean + 0.1 .. 0.5 standard deviations) and of `origin`
(5 points of share moved from EWR to LGA), compared with unshifted reference copies.

    make peers-evidently                                        # once: Evidently's own venv
    flock /tmp/mlpilot-bench.lock .venv/bin/python bench/drift.py [--reps 20]

Prints a table; writes bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlpilot.data.drift import DATASET_SHARE, drift_table

ROOT = Path(__file__).resolve().parents[1]
FLIGHTS = ROOT / "examples" / "flights_sample.parquet"
EVIDENTLY = ROOT / ".peers" / "evidently" / "bin" / "python"
NUMERIC = ["distance", "sched_dep_time", "sched_arr_time", "hour", "minute", "day", "flight"]
CATEGORICAL = ["carrier", "origin", "dest"]
SHIFTS = (0.1, 0.2, 0.3, 0.5)
SHARE_MOVE = 0.05


def make_pair(source: pd.DataFrame, n: int, rng: np.random.Generator
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = source.iloc[rng.integers(0, len(source), n)].reset_index(drop=True)
    cur = source.iloc[rng.integers(0, len(source), n)].reset_index(drop=True)
    std = float(source["distance"].std())
    for k in SHIFTS:
        ref[f"distance_shift_{k}"] = ref["distance"].astype("float64")
        cur[f"distance_shift_{k}"] = cur["distance"] + k * std
    ref["origin_share_5pt"] = ref["origin"]
    moved = cur["origin"].copy()
    ewr = np.flatnonzero((moved == "EWR").to_numpy())
    take = rng.choice(ewr, size=min(len(ewr), round(SHARE_MOVE * n)), replace=False)
    moved.iloc[take] = "LGA"
    cur["origin_share_5pt"] = moved
    return ref, cur


def kinds() -> dict[str, str]:
    out = {c: "numeric" for c in NUMERIC}
    out.update({c: "categorical" for c in CATEGORICAL})
    out.update({f"distance_shift_{k}": "numeric" for k in SHIFTS})
    out["origin_share_5pt"] = "categorical"
    return out


def summarise(verdicts: list[dict[str, bool]]) -> dict[str, float]:
    """Rates over the repetitions: per-column false alarms, dataset false alarms, detections."""
    clean = NUMERIC + CATEGORICAL
    per_column = np.mean([[v[c] for c in clean] for v in verdicts])
    dataset = np.mean([np.mean([v[c] for c in clean]) >= DATASET_SHARE for v in verdicts])
    out = {"false_alarm_column": float(per_column), "false_alarm_dataset": float(dataset)}
    for k in SHIFTS:
        out[f"detect_shift_{k}"] = float(np.mean([v[f"distance_shift_{k}"] for v in verdicts]))
    out["detect_share_5pt"] = float(np.mean([v["origin_share_5pt"] for v in verdicts]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="pairs per sample size")
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    source = pd.read_parquet(FLIGHTS)
    rng = np.random.default_rng(0)
    rows, results = [], {}
    for n in (int(s) for s in args.sizes.split(",")):
        reps = args.reps if n < 100_000 else max(5, args.reps // 2)
        ours, ours_seconds = [], 0.0
        with tempfile.TemporaryDirectory() as folder:
            folder_path = Path(folder)
            (folder_path / "columns.json").write_text(json.dumps({
                "numerical": [c for c, k in kinds().items() if k == "numeric"],
                "categorical": [c for c, k in kinds().items() if k == "categorical"]}))
            for i in range(reps):
                ref, cur = make_pair(source, n, rng)
                ref.to_parquet(folder_path / f"ref_{i:03d}.parquet")
                cur.to_parquet(folder_path / f"cur_{i:03d}.parquet")
                start = time.perf_counter()
                table = drift_table(ref, cur, kinds())
                ours_seconds += time.perf_counter() - start
                ours.append({c.column: c.drifted for c in table.columns})
            theirs, theirs_seconds = None, None
            if EVIDENTLY.exists():
                out = folder_path / "evidently.json"
                subprocess.run([str(EVIDENTLY), str(ROOT / "bench" / "evidently_drift_runner.py"),
                                folder, str(out)], check=True)
                raw = json.loads(out.read_text())
                theirs = [{c: v["drifted"] for c, v in r["columns"].items()} for r in raw]
                theirs_seconds = sum(r["seconds"] for r in raw)
        results[n] = {"reps": reps, "mlpilot": summarise(ours),
                      "mlpilot_seconds_per_pair": ours_seconds / reps,
                      "evidently": summarise(theirs) if theirs else None,
                      "evidently_seconds_per_pair": (theirs_seconds / reps
                                                     if theirs_seconds else None)}
        for tool in ("mlpilot", "evidently"):
            if results[n][tool] is None:
                continue
            s = results[n][tool]
            rows.append([f"{n:,}", tool, reps, s["false_alarm_column"], s["false_alarm_dataset"],
                         *(s[f"detect_shift_{k}"] for k in SHIFTS), s["detect_share_5pt"],
                         results[n][f"{tool}_seconds_per_pair"]])
    header = ["rows", "tool", "reps", "FA col", "FA table", *(f"μ+{k}σ" for k in SHIFTS),
              "cat 5pt", "s/pair"]
    print(" | ".join(f"{h:>9}" for h in header))
    for row in rows:
        print(" | ".join(f"{v:>9.3f}" if isinstance(v, float) else f"{v!s:>9}" for v in row))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "drift.json").write_text(json.dumps(results, indent=2))
    print("FA col: share of no-drift columns flagged; FA table: share of pairs whose dataset "
          f"verdict (≥ {DATASET_SHARE:.0%} of the 10 no-drift columns) fired; μ+kσ / cat 5pt: "
          "detection rate of the injected shift.", file=sys.stderr)


if __name__ == "__main__":
    main()
