"""Mean ranks of bench/automl.py over several seeds, from the recorded results.

A time-budgeted run is not repeatable to the score: which trials fit before the deadline
depends on the machine's speed at that moment, and each framework's seed decides its own
search. One seed's table can put a framework first or second on a dataset by less than that
spread. This reads `bench/records/automl/` (nothing is run) and prints, per dataset, each
framework's score at each seed and its rank, then each framework's mean rank at each seed and
over all of them, and the datasets where mlpilot scored worse than LightGBM at its defaults.

    python bench/automl.py --budget 60 --seed 1 \
        --frameworks mlpilot,flaml,autogluon,lightgbm_default
    python bench/automl_seeds.py --budget 60 --seeds 0,1,2

A (dataset, seed) is ranked only when every AutoML framework has a record for it; one with no
record at all is left out of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from automl import AUTOML, DATASETS, RECORDS, greater_is_better, ranks

BASELINE = "lightgbm_default"


def load(name: str, framework: str, budget: int, seed: int) -> dict | None:
    path = RECORDS / f"{name}-{framework}-{budget}s-seed{seed}.json"
    return json.loads(path.read_text()) if path.exists() else None


def cell(record: dict | None) -> str:
    if record is None:
        return "-"
    if record["status"] != "ok":
        return "failed"
    value = record["score"]
    if abs(value) >= 1_000:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 10 else f"{value:.5f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", default=None)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    catalog = json.loads((DATASETS / "catalog.json").read_text())
    names = args.datasets.split(",") if args.datasets else list(catalog)
    frameworks = [*AUTOML, BASELINE]
    by_seed: dict[int, dict[str, list[float]]] = {s: {f: [] for f in AUTOML} for s in seeds}
    behind_baseline: list[str] = []
    print(f"| dataset | seed | {' | '.join(frameworks)} | mlpilot's rank |")
    print(f"|---|---|{'---|' * len(frameworks)}---|")
    for name in names:
        task = catalog[name]["task"]
        for seed in seeds:
            row = {f: load(name, f, args.budget, seed) for f in frameworks}
            if all(r is None for r in row.values()):
                continue
            if any(row[f] is None for f in AUTOML):
                print(f"| {name} | {seed} | {' | '.join(cell(row[f]) for f in frameworks)} | "
                      "not ranked |")
                continue
            ranked = ranks({f: row[f] for f in AUTOML}, task)
            for f, rank in ranked.items():
                by_seed[seed][f].append(rank)
            ours, base = row["mlpilot"], row[BASELINE]
            if (ours["status"] == "ok" and base is not None and base["status"] == "ok"
                    and (ours["score"] < base["score"]) == greater_is_better(task)
                    and ours["score"] != base["score"]):
                behind_baseline.append(f"{name} (seed {seed})")
            print(f"| {name} | {seed} | {' | '.join(cell(row[f]) for f in frameworks)} | "
                  f"{ranked['mlpilot']:g} |")
    print()
    print(f"| mean rank | {' | '.join(f'seed {s}' for s in seeds)} | all |")
    print(f"|---|{'---|' * len(seeds)}---|")
    for f in AUTOML:
        each = [by_seed[s][f] for s in seeds]
        pooled = [r for ranks_ in each for r in ranks_]
        cells = [f"{np.mean(r):.2f} ({len(r)})" if r else "-" for r in each]
        print(f"| {f} | {' | '.join(cells)} | "
              f"{np.mean(pooled):.2f} ({len(pooled)}) |" if pooled else f"| {f} | - |")
    print()
    print("Mean score over the seeds every framework has a record for (a failure counts as "
          "last), and its rank:")
    print()
    print(f"| dataset | seeds | {' | '.join(AUTOML)} | mlpilot's rank |")
    print(f"|---|---|{'---|' * len(AUTOML)}---|")
    mean_ranks: dict[str, list[float]] = {f: [] for f in AUTOML}
    for name in names:
        task = catalog[name]["task"]
        rows = [{f: load(name, f, args.budget, s) for f in AUTOML} for s in seeds]
        rows = [r for r in rows if all(v is not None for v in r.values())]
        if not rows:
            continue
        failed = {f for r in rows for f in AUTOML if r[f]["status"] != "ok"}
        means = {f: {"status": "failed"} if f in failed else
                 {"status": "ok", "score": float(np.mean([r[f]["score"] for r in rows]))}
                 for f in AUTOML}
        ranked = ranks(means, task)
        for f, rank in ranked.items():
            mean_ranks[f].append(rank)
        print(f"| {name} | {len(rows)} | {' | '.join(cell(means[f]) for f in AUTOML)} | "
              f"{ranked['mlpilot']:g} |")
    print()
    print(" ".join(f"{f} {np.mean(r):.2f}" for f, r in mean_ranks.items() if r)
          + " (mean rank of the mean scores)")
    print()
    print("mlpilot worse than LightGBM defaults: "
          + (", ".join(behind_baseline) if behind_baseline else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
