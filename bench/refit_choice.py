"""Which final fit after cross-validation: the validated bag, the bag fitted again on every
labelled row, or one model per member on every row (rounds: the bag's mean early-stopped
rounds). Scored on the benchmark's test split (bench/automl.py's split) of each dataset.

    python bench/refit_choice.py --trials 12 --datasets ames,diabetes,breast_cancer,wage

A trial-count search (no deadlines) with 5-fold cross-validation; then both refits of the
chosen members, without deadlines. Prints one row per dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from automl import DATASETS, score, split

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.data.schema import infer_schema, validate_prediction_input
from mlpilot.data.split import make_split
from mlpilot.evaluation.metrics import get_metric
from mlpilot.pipeline.run import encode_target
from mlpilot.search.refit import refit_all
from mlpilot.search.study import run_search

METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def one(name: str, meta: dict, trials: int) -> dict:
    target, task = meta["target"], Task(meta["task"])
    train, test = split(name, pd.read_parquet(DATASETS / f"{name}.parquet"), target,
                        meta["task"])
    train = train[train[target].notna()].reset_index(drop=True)
    schema = infer_schema(train, target=target)
    parts = make_split(train, target=target, task=task, seed=0)
    y, classes = encode_target(train[target], task)
    X = validate_prediction_input(train, schema)
    result = run_search(X.iloc[parts.train].reset_index(drop=True), y[parts.train],
                        X.iloc[parts.valid].reset_index(drop=True), y[parts.valid],
                        schema=schema, task=task, classes=classes,
                        scorer=get_metric(METRICS[meta["task"]], task), budget=Budget(3600),
                        seed=0, n_threads=2, max_trials=trials, strategy="cv")
    X_test = test.drop(columns=[target])

    def scored(predictor) -> float:
        pred = (predictor.predict(X_test) if task is Task.REGRESSION
                else predictor.predict_proba(X_test))
        return score(meta["task"], test[target], np.asarray(pred), predictor.classes)

    row = {"dataset": name, "members": [m.family for m in result.members],
           "validated": scored(result.best)}
    for label, form in (("bagged_again", "bag"), ("one_model", "one")):
        started = time.monotonic()
        outcome = refit_all(X, y, result.members, schema=schema, task=task, classes=classes,
                            strategy=result.strategy, seed=0, n_threads=2,
                            threshold=result.best.threshold, searched_rows=result.rows_per_fit,
                            deadline=None, only=[m.trial for m in result.members], form=form)
        row[label] = scored(outcome.predictor)
        row[f"{label}_seconds"] = round(time.monotonic() - started, 1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--datasets",
                        default="ames,diabetes,breast_cancer,wage,seattle_weather,penguins")
    args = parser.parse_args()
    catalog = json.loads((DATASETS / "catalog.json").read_text())
    print(f"{'dataset':16s} {'validated':>12s} {'bagged again':>13s} {'one model':>12s}  "
          f"members")
    for name in args.datasets.split(","):
        row = one(name, catalog[name], args.trials)
        print(f"{name:16s} {row['validated']:12.5f} {row['bagged_again']:13.5f} "
              f"{row['one_model']:12.5f}  {','.join(row['members'])} "
              f"({row['bagged_again_seconds']} s / {row['one_model_seconds']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
