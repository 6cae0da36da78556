"""Can the training rows tell which trials will score best on the benchmark's test rows?

A cross-validated search ranks its trials by their out-of-fold score on one partition of the
training rows into folds. This runs a trial-count search (no deadlines, so repeatable) with
the seed given, then for its best trials and each family's best:

- ``oof``: the score the search ranked it by;
- ``fresh``: the mean out-of-fold score over ``--partitions`` other partitions of the same
  rows into folds (the same configuration and model seed), which a trial cannot have been
  chosen for; a lead that holds here is not luck of the partition;
- ``test``: the score of its fold bag (the models the search fitted) on the benchmark's test
  rows (bench/automl.py's split).

Then the rank correlation (Spearman) of each of the first two with the third, and how much of
the chosen model's squared error on the test rows comes from its few worst rows.

    python bench/selection_noise.py --dataset diabetes --seed 1 --trials 1000
    python bench/selection_noise.py --dataset ames --seed 0 --trials 34 --top 6

Regression (RMSE) only: the datasets where the 60 s table is decided by a few test rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from automl import DATASETS, split

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.data.schema import infer_schema, validate_prediction_input
from mlpilot.data.split import make_split
from mlpilot.evaluation.metrics import get_metric
from mlpilot.models.predictor import Predictor
from mlpilot.search.study import run_search
from mlpilot.search.validation import Problem, Strategy

FRESH_SEED = 1_000  # the fresh partitions' seeds: 1000, 1001, ...


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(pred, float)) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=100, help="the search's trial count")
    parser.add_argument("--top", type=int, default=8, help="best trials to re-score")
    parser.add_argument("--partitions", type=int, default=3, help="fresh fold partitions")
    args = parser.parse_args()
    catalog = json.loads((DATASETS / "catalog.json").read_text())
    if args.dataset not in catalog:
        sys.exit(f"selection_noise.py: no dataset {args.dataset!r} in {DATASETS / 'catalog.json'}"
                 f"; expected one of {', '.join(sorted(catalog))}")
    meta = catalog[args.dataset]
    if meta["task"] != "regression":
        sys.exit(f"selection_noise.py: {args.dataset} is a {meta['task']} dataset; expected a "
                 "regression (RMSE) one such as ames, diabetes or wage")
    target, task = meta["target"], Task.REGRESSION
    train, test = split(args.dataset, pd.read_parquet(DATASETS / f"{args.dataset}.parquet"),
                        target, meta["task"])
    train = train[train[target].notna()].reset_index(drop=True)
    schema = infer_schema(train, target=target)
    parts = make_split(train, target=target, task=task, seed=0)
    X = validate_prediction_input(train, schema)
    y = train[target].to_numpy(float)
    train_X, valid_X = (X.iloc[idx].reset_index(drop=True) for idx in (parts.train, parts.valid))
    train_y, valid_y = y[parts.train], y[parts.valid]
    result = run_search(train_X, train_y, valid_X, valid_y, schema=schema, task=task,
                        classes=None, scorer=get_metric("rmse", task), budget=Budget(3600),
                        seed=args.seed, n_threads=2, max_trials=args.trials, strategy="cv")
    X_test, y_test = test.drop(columns=[target]), test[target].to_numpy(float)
    done = [t for t in result.trials if t.state == "complete" and t.score is not None
            and t.family not in ("baseline", "ensemble")]
    ranked = sorted(done, key=lambda t: (t.score, t.number))
    chosen = {t.number: t for t in ranked[:args.top]}
    for t in ranked:
        if t.family not in {c.family for c in chosen.values()}:
            chosen[t.number] = t

    searched = Problem(train_X, train_y, valid_X, valid_y, schema, task, None, 2,
                       result.strategy, args.seed)
    fresh = [Problem(train_X, train_y, valid_X, valid_y, schema, task, None, 2,
                     Strategy("cv", result.strategy.folds, 1), FRESH_SEED + i)
             for i in range(args.partitions)]
    rows = []
    for t in sorted(chosen.values(), key=lambda t: (t.score, t.number)):
        bag = searched.fit(t.family, t.params, t.seed, None)
        test_score = rmse(y_test, Predictor(schema, task, None, bag.members).predict(X_test))
        again = [rmse(p.scored_y, p.fit(t.family, t.params, t.seed, None).prediction)
                 for p in fresh]
        rows.append((t, float(np.mean(again)), test_score))
        print(f"  trial {t.number} ({t.family}) done", file=sys.stderr, flush=True)

    print(f"\n{args.dataset}, seed {args.seed}, {args.trials} trials "
          f"({result.strategy.describe()}), {len(done)} complete; RMSE, lower is better\n")
    print("| trial | family | target | oof | fresh (mean of "
          f"{args.partitions}) | test |")
    print("|---|---|---|---|---|---|")
    for t, again, test_score in rows:
        print(f"| {t.number} | {t.family} | {t.params.get('target_transform', 'identity')} | "
              f"{t.score:,.2f} | {again:,.2f} | {test_score:,.2f} |")
    oof = [t.score for t, _, _ in rows]
    refreshed = [again for _, again, _ in rows]
    tested = [s for _, _, s in rows]
    print(f"\nSpearman with test: oof {spearmanr(oof, tested)[0]:.2f}, "
          f"fresh {spearmanr(refreshed, tested)[0]:.2f}; oof with fresh "
          f"{spearmanr(oof, refreshed)[0]:.2f}")
    served = np.asarray(result.best.predict(X_test), float)
    squared = np.sort((y_test - served) ** 2)[::-1]
    shares = ", ".join(f"{k} rows {squared[:k].sum() / squared.sum():.0%}" for k in (1, 3, 10))
    print(f"The search's model as evaluated: test RMSE {rmse(y_test, served):,.2f} on "
          f"{len(y_test)} rows; share of its squared error from its worst {shares}")


if __name__ == "__main__":
    main()
