"""One trial at a time on every core, or a process pool of single-threaded trials?

Issue 3 asks for parallel trials on the approved CPUs, "process pool, or one trial using all
threads, whichever the benchmark shows is better". This measures both on the same work: the
search's own starting portfolio (the configurations every run begins with, in order) fitted
under the search's own validation strategy (``Problem.fit``: k-fold CV for small tables, a
holdout for large ones), on shared datasets of different sizes.

- ``threads``: one configuration after another, each fit using all ``--cpus`` threads.
- ``pool``: the search's fold pool (``mlpilot.search.parallel``): a cross-validated trial fits
  its folds side by side on ``--cpus`` single-threaded worker processes (started once, timed
  with the rest). Holdout tables have one fit per trial, so both modes are the same there.

Printed per dataset: the wall time to fit the whole portfolio, the time until the first model
(the baseline aside) exists, and whether the two modes' validation scores agree. Both modes
fit exactly the same configurations with the same seeds; the better mode is the one that
finishes the portfolio sooner without delaying the first model.

    flock /tmp/mlpilot-bench.lock .venv/bin/python bench/parallel.py
    .venv/bin/python bench/parallel.py --datasets credit_data,diamonds --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "bench" / "results"
DEFAULT = "penguins,breast_cancer,seattle_weather,wage,credit_data,hpc_jobs,ames,caravan"
MAX_ROWS = 100_000  # larger tables: their first rows (flights is in time order)
BUDGET = 60.0  # the budget the validation strategy is chosen for



def build_problem(name: str, n_threads: int) -> tuple[Any, Any, list[tuple[str, dict]]]:
    """The search's problem, scorer and starting portfolio for one shared dataset."""
    from mlpilot.core.config import Task
    from mlpilot.data.schema import infer_schema, validate_prediction_input
    from mlpilot.data.split import make_split
    from mlpilot.evaluation.metrics import default_metric
    from mlpilot.pipeline.run import encode_target
    from mlpilot.search.portfolio import starting_configs
    from mlpilot.search.validation import Problem, choose_strategy

    meta = json.loads((DATASETS / "catalog.json").read_text())[name]
    frame = pd.read_parquet(DATASETS / f"{name}.parquet").iloc[:MAX_ROWS]
    frame = frame[frame[meta["target"]].notna()].reset_index(drop=True)
    task = Task.parse(meta["task"])
    time_column = next((c for c in frame.columns if frame[c].dtype.kind == "M"), None)
    schema = infer_schema(frame, target=meta["target"], time_column=time_column)
    split = make_split(frame, target=meta["target"], task=task, seed=0,
                       time_column=time_column)
    y, classes = encode_target(frame[meta["target"]], task)
    X = validate_prediction_input(frame, schema)
    n = len(split.train) + len(split.valid)
    scorer = default_metric(task)
    plan = choose_strategy(n, BUDGET, allow_cv=time_column is None,
                           log_loss=scorer.name == "log_loss")  # as the search decides
    problem = Problem(X.iloc[split.train].reset_index(drop=True), y[split.train],
                      X.iloc[split.valid].reset_index(drop=True), y[split.valid], schema, task,
                      len(classes) if classes else None, n_threads, plan, 0)
    configs = [(f, p) for f, p in starting_configs(task, problem.n_train_rows)
               if f != "baseline"]
    return problem, scorer, configs


def run_mode(name: str, cpus: int, pooled: bool) -> dict[str, Any]:
    """Fit the portfolio in order: all threads per fit, or (``pooled``) the folds of each
    trial side by side on the search's own pool of single-threaded workers."""
    from mlpilot.search.parallel import FoldPool

    started = time.monotonic()
    problem, scorer, configs = build_problem(name, cpus)
    if pooled and problem.strategy.kind == "cv":
        problem.pool = FoldPool(cpus)
    scores, first = [], None
    try:
        for index, (family, params) in enumerate(configs):
            fit = problem.fit(family, params, index + 1, None)
            scores.append(float(scorer(problem.scored_y, fit.prediction)))
            first = first if first is not None else time.monotonic() - started
    finally:
        if problem.pool is not None:
            problem.pool.close()
    return {"wall": time.monotonic() - started, "first": first, "scores": scores,
            "configs": [f for f, _ in configs], "strategy": problem.strategy.kind,
            "rows": len(problem.train_y) + len(problem.valid_y)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=DEFAULT)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for name in [n for n in args.datasets.split(",") if n]:
        load = os.getloadavg()[0]
        threads = run_mode(name, args.cpus, pooled=False)
        pool = run_mode(name, args.cpus, pooled=True)
        same = bool(np.allclose(threads["scores"], pool["scores"], rtol=1e-3, atol=1e-4))
        rows.append({"dataset": name, "rows": threads["rows"], "strategy": threads["strategy"],
                     "configs": len(threads["configs"]), "threads": threads, "pool": pool,
                     "scores_agree": same, "load_before": load, "load_after": os.getloadavg()[0]})
        print(f"{name:16s} threads {threads['wall']:6.1f}s (first {threads['first']:5.1f}s)   "
              f"pool {pool['wall']:6.1f}s (first {pool['first']:5.1f}s)   "
              f"scores agree: {same}", flush=True)
    print(f"\n| dataset | rows | validation | portfolio fits | one trial, {args.cpus} threads: "
          f"all / first | pool of {args.cpus}, 1 thread: all / first | pool / threads |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        t, p = r["threads"], r["pool"]
        print(f"| {r['dataset']} | {r['rows']:,} | {r['strategy']} | {r['configs']} | "
              f"{t['wall']:.1f} s / {t['first']:.1f} s | {p['wall']:.1f} s / {p['first']:.1f} s "
              f"| {p['wall'] / t['wall']:.2f} |")
    total_t = sum(r["threads"]["wall"] for r in rows)
    total_p = sum(r["pool"]["wall"] for r in rows)
    print(f"\nall datasets: threads {total_t:.1f} s, pool {total_p:.1f} s "
          f"(pool / threads = {total_p / total_t:.2f}); load {os.getloadavg()[0]:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"parallel-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(rows, indent=1, default=str))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
