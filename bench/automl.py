"""mlpilot vs FLAML vs AutoGluon (and LightGBM with default parameters) at equal budgets.

Each (dataset, framework) runs in its own process with a hard timeout, on the same split, the
same budget and the same machine. Splits: the last 25% of rows for the time-ordered datasets
(flights, bikeshare, employment_ma), otherwise a stratified (classification) or shuffled
(regression) 25% with seed 0. On the time-ordered datasets mlpilot is given the column that
orders them as its time column (the datetime column of flights and bikeshare, the integer
``year`` of employment_ma) and FLAML ``split_type="time"``, so both validate on later rows, as
their users would; AutoGluon's tabular fit has no such option. Metrics: ROC AUC (binary), log
loss (multiclass), RMSE (regression). Prints per dataset each framework's score, fit time
against the budget and any failure, then the mean rank of each AutoML framework. Results are
written as JSON to bench/results/.

    make peers-automl                      # FLAML + AutoGluon in .peers/automl
    python bench/automl.py --budget 60     # all datasets of ../shared/datasets
    python bench/automl.py --budget 60 --datasets penguins,diabetes --frameworks mlpilot,flaml
    python bench/automl.py --budget 300 --reuse flaml,autogluon,lightgbm_default
    python bench/automl.py --budget 60 --frameworks mlpilot,mlpilot_mlp --reuse mlpilot

Every finished (dataset, framework, budget) result is kept in bench/records/automl/ (committed,
so a long comparison can be completed over several sittings); `--reuse` takes the recorded
result for the named frameworks instead of running them again. ``mlpilot_mlp`` is mlpilot
with the candidate MLP family of bench/mlp_family.py added to its search (not ranked: it
measures whether the MLP earns its place).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "bench" / "results"
RECORDS = ROOT / "bench" / "records" / "automl"
PEERS_PYTHON = ROOT / ".peers" / "automl" / "bin" / "python"
TIME_ORDERED = {"flights", "bikeshare", "employment_ma"}
#: the whole-number period that orders a time-ordered dataset without a datetime column
PERIOD_COLUMNS = {"employment_ma": "year"}
AUTOML = ("mlpilot", "flaml", "autogluon")
FRAMEWORKS = (*AUTOML, "lightgbm_default")
#: mlpilot with the candidate MLP family (bench/mlp_family.py): opt-in, not in the ranks
CANDIDATES = ("mlpilot_mlp",)
TIME_AWARE = {"mlpilot", "mlpilot_mlp", "flaml"}  # told the time column, when time-ordered


def split(name: str, frame: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, ...]:
    if name in TIME_ORDERED:
        cut = int(len(frame) * 0.75)
        return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)
    stratify = frame[target] if task != "regression" else None
    train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def score(task: str, y: pd.Series, pred: np.ndarray, classes: list | None) -> float:
    if task == "regression":
        return float(np.sqrt(mean_squared_error(y.to_numpy(dtype=float), pred)))
    order = [str(c) for c in classes]
    labels = sorted(order)
    proba = pred[:, [order.index(label) for label in labels]]
    codes = np.array([labels.index(str(v)) for v in y])
    if task == "binary":
        return float(roc_auc_score(codes, proba[:, 1]))
    proba = np.clip(proba, 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(log_loss(codes, proba, labels=list(range(len(labels)))))


def greater_is_better(task: str) -> bool:
    return task == "binary"


def wait_for_quiet(limit: float, patience: float = 600.0) -> float:
    """Wait (at most ``patience`` seconds) until the 1-minute load average is below ``limit``:
    a busy 2-core machine slows every framework unevenly (OpenMP threads spin when the cores
    are oversubscribed). Returns the load average when the run starts."""
    started = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - started < patience:
        time.sleep(5)
    return os.getloadavg()[0]


def tree_commit(src: Path) -> str:
    """The commit of the checkout mlpilot runs from, with "+dirty" when it has changes."""
    head = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "src"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return head + ("+dirty" if dirty else "")


def time_column_of(name: str, meta: dict) -> str | None:
    """The column that orders a time-ordered dataset: its datetime column (flights,
    bikeshare), else its integer period column (employment_ma: ``year``). The frameworks that
    can are told to validate in time order, as their users would."""
    if name not in TIME_ORDERED:
        return None
    columns = meta.get("datetime_columns") or []
    return columns[0] if columns else PERIOD_COLUMNS.get(name)


def run_one(framework: str, name: str, meta: dict, paths: tuple[Path, Path], budget: float,
            seed: int, cpus: int, workdir: Path, mlpilot_src: Path | None = None) -> dict:
    ours = framework.startswith("mlpilot") or framework == "lightgbm_default"
    python = sys.executable if ours else PEERS_PYTHON
    if not Path(python).exists():
        return {"status": "failed", "error": f"{python} missing: run `make peers-automl`"}
    out = workdir / f"{name}-{framework}-{int(budget)}.json"
    command = [str(python), str(ROOT / "bench" / "automl_runner.py"), "--framework", framework,
               "--train", str(paths[0]), "--test", str(paths[1]), "--target", meta["target"],
               "--task", meta["task"], "--budget", str(budget), "--seed", str(seed),
               "--cpus", str(cpus), "--out", str(out)]
    time_column = time_column_of(name, meta)
    if time_column is not None:
        command += ["--time-column", time_column]
    env = {**os.environ, "OMP_NUM_THREADS": str(cpus)}
    if framework.startswith("mlpilot") and mlpilot_src is not None:  # a pinned checkout
        env["PYTHONPATH"] = str(mlpilot_src / "src")
    started = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=budget * 2 + 120, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": "hard timeout", "wall": time.monotonic() - started}
    wall = time.monotonic() - started
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "error": " | ".join(tail), "wall": wall}
    info = json.loads(out.read_text())
    pred = np.load(out.with_suffix(".npy"))
    test = pd.read_parquet(paths[1])
    value = score(meta["task"], test[meta["target"]], pred, info.get("classes"))
    return {"status": "ok", "score": value, "fit_seconds": info["fit_seconds"], "wall": wall,
            **{k: v for k, v in info.items() if k not in ("classes", "fit_seconds")}}


def ranks(row: dict, task: str) -> dict[str, float]:
    scored = {f: r["score"] for f, r in row.items() if f in AUTOML and r["status"] == "ok"}
    worst = len(AUTOML)
    order = sorted(scored, key=lambda f: -scored[f] if greater_is_better(task) else scored[f])
    out = {f: float(worst) for f in AUTOML}  # a failure ranks last
    for i, f in enumerate(order):
        ties = [g for g in order if scored[g] == scored[f]]
        out[f] = float(np.mean([order.index(g) + 1 for g in ties])) if len(ties) > 1 else i + 1.0
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--datasets", default="")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--quiet-load", type=float, default=1.5,
                        help="wait before each run until the 1-minute load average is below")
    parser.add_argument("--mlpilot-src", type=Path, default=None,
                        help="run mlpilot from this checkout (e.g. a `git worktree` of a "
                             "commit), so edits in progress never leak into a measurement")
    parser.add_argument("--reuse", default="",
                        help="frameworks whose recorded result (bench/records/automl) is reused")
    args = parser.parse_args()
    reuse = {f for f in args.reuse.split(",") if f}
    catalog = json.loads((DATASETS / "catalog.json").read_text())
    names = [n for n in args.datasets.split(",") if n] or list(catalog)
    frameworks = [f for f in args.frameworks.split(",") if f]
    workdir = RESULTS / "automl"
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    table: dict[str, dict] = {}
    for name in names:
        meta = catalog[name]
        frame = pd.read_parquet(DATASETS / f"{name}.parquet")
        train, test = split(name, frame, meta["target"], meta["task"])
        paths = (workdir / "data" / f"{name}-train.parquet",
                 workdir / "data" / f"{name}-test.parquet")
        train.to_parquet(paths[0]), test.to_parquet(paths[1])
        table[name] = {}
        for framework in frameworks:
            record = RECORDS / f"{name}-{framework}-{int(args.budget)}s-seed{args.seed}.json"
            recorded = json.loads(record.read_text()) if record.exists() else None
            if (framework in reuse and recorded is not None
                    and (framework not in TIME_AWARE
                         or recorded.get("time_column") == time_column_of(name, meta))):
                result = recorded  # taken with the same configuration
            else:
                load_before = wait_for_quiet(args.quiet_load)
                result = run_one(framework, name, meta, paths, args.budget, args.seed,
                                 args.cpus, workdir, args.mlpilot_src)
                result["load_before"] = load_before
                result["load"] = os.getloadavg()[0]
                if framework.startswith("mlpilot"):
                    result["commit"] = tree_commit(args.mlpilot_src or ROOT)
                result["time_column"] = time_column_of(name, meta)
                result["date"] = time.strftime("%Y-%m-%d %H:%M")
                RECORDS.mkdir(parents=True, exist_ok=True)
                record.write_text(json.dumps(result, indent=1, default=str))
            table[name][framework] = result
            shown = (f"{result['score']:.4f} in {result['fit_seconds']:.0f}s"
                     if result["status"] == "ok" else f"FAILED {result.get('error', '')[:80]}")
            print(f"{name:16s} {framework:17s} {shown}", flush=True)
    print_table(table, catalog, args.budget, frameworks)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"automl-{int(args.budget)}s-{stamp}.json"
    out.write_text(json.dumps({"budget": args.budget, "seed": args.seed, "cpus": args.cpus,
                               "load": os.getloadavg(), "results": table}, indent=2))
    print(f"\nwritten {out}")
    return 0


def print_table(table: dict, catalog: dict, budget: float, frameworks: list[str]) -> None:
    print(f"\nbudget {budget:.0f}s, load {os.getloadavg()[0]:.2f}")
    header = f"{'dataset':16s} {'metric':8s} " + " ".join(f"{f:>24s}" for f in frameworks)
    print(header)
    print("-" * len(header))
    all_ranks: dict[str, list[float]] = {f: [] for f in AUTOML}
    for name, row in table.items():
        task = catalog[name]["task"]
        metric = {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}[task]
        cells = []
        for f in frameworks:
            r = row.get(f, {"status": "failed"})
            if r["status"] == "ok":
                over = r["fit_seconds"] / budget - 1
                cells.append(f"{r['score']:>10.4f} {r['fit_seconds']:5.0f}s {over:+6.0%}")
            else:
                cells.append(f"{'FAILED':>24s}")
        print(f"{name:16s} {metric:8s} " + " ".join(f"{c:>24s}" for c in cells))
        if all(f in row for f in AUTOML):
            for f, rank in ranks(row, task).items():
                all_ranks[f].append(rank)
    print("-" * len(header))
    for f in AUTOML:
        if all_ranks[f]:
            print(f"mean rank {f:12s} {np.mean(all_ranks[f]):.2f} over {len(all_ranks[f])}")


if __name__ == "__main__":
    sys.exit(main())
