"""One framework on one prepared dataset, in its own process (called by bench/automl.py).

Reads train/test Parquet files, fits within the budget, writes the test predictions (class
probabilities, or values) and the fit wall time as JSON. Imports only the framework it runs,
so it works in the peers' virtual environment (FLAML, AutoGluon) as well as in mlpilot's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def run_mlpilot(train, test, target, task, budget, seed, cpus, time_column=None):
    from mlpilot import Workspace

    home = Path(tempfile.mkdtemp(prefix="mlpilot-bench-"))
    os.environ["MLPILOT_ACTOR"] = "bench"
    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    started = time.monotonic()
    ws = Workspace(home)
    project = ws.create_project("bench", train, target, task=task, metric=metric, seed=seed,
                                time_column=time_column)
    project.approve(time=float(budget), cpus=cpus)
    outcome = project.run()
    fit_seconds = time.monotonic() - started
    predictor = project.model(outcome.model_version).load()
    X = test.drop(columns=[target])
    # first_model_seconds: from the run's start to its first scored model (not the baseline)
    extra = {"run_seconds": outcome.seconds, "first_model_seconds": outcome.first_trial_seconds,
             "final_fit": outcome.final_fit}
    if task == "regression":
        return np.asarray(predictor.predict(X), dtype=float), None, fit_seconds, extra
    return predictor.predict_proba(X), list(predictor.classes), fit_seconds, extra


def run_flaml(train, test, target, task, budget, seed, cpus, time_column=None):
    from flaml import AutoML

    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    automl = AutoML()
    if time_column is not None:  # FLAML's time split validates on the last rows in order
        train = train.sort_values(time_column, kind="stable").reset_index(drop=True)
    X, y = train.drop(columns=[target]), train[target]
    started = time.monotonic()
    automl.fit(X, y, task="classification" if task != "regression" else "regression",
               metric=metric, time_budget=budget, seed=seed, n_jobs=cpus, verbose=0,
               **({"split_type": "time"} if time_column is not None else {}))
    fit_seconds = time.monotonic() - started
    X_test = test.drop(columns=[target])
    if task == "regression":
        return np.asarray(automl.predict(X_test), dtype=float), None, fit_seconds, {}
    return automl.predict_proba(X_test), list(automl.classes_), fit_seconds, {}


def run_autogluon(train, test, target, task, budget, seed, cpus, time_column=None):
    from autogluon.tabular import TabularPredictor

    metric = {"binary": "roc_auc", "multiclass": "log_loss",
              "regression": "root_mean_squared_error"}[task]
    path = tempfile.mkdtemp(prefix="ag-bench-")
    started = time.monotonic()
    predictor = TabularPredictor(label=target, eval_metric=metric, path=path, verbosity=0,
                                 problem_type=task).fit(
        train, time_limit=budget, num_cpus=cpus, num_gpus=0,
        ag_args_fit={"random_seed": seed} if seed is not None else None)
    fit_seconds = time.monotonic() - started
    X_test = test.drop(columns=[target])
    if task == "regression":
        return np.asarray(predictor.predict(X_test), dtype=float), None, fit_seconds, {}
    proba = predictor.predict_proba(X_test)
    return proba.to_numpy(), list(proba.columns), fit_seconds, {}


def run_lightgbm_default(train, test, target, task, budget, seed, cpus, time_column=None):
    import lightgbm as lgb

    def prepare(frame):
        X = frame.drop(columns=[target]).copy()
        for name in X.columns:
            if X[name].dtype.kind == "M":
                X[name] = X[name].astype("int64") // 10**9
            elif X[name].dtype.kind not in "biuf":
                X[name] = X[name].astype("category")
        return X

    X, X_test = prepare(train), prepare(test)
    for name in X.columns:
        if isinstance(X[name].dtype, pd.CategoricalDtype):
            X_test[name] = pd.Categorical(X_test[name], categories=X[name].cat.categories)
    started = time.monotonic()
    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    model = cls(random_state=seed, n_jobs=cpus, verbose=-1).fit(X, train[target])
    fit_seconds = time.monotonic() - started
    if task == "regression":
        return np.asarray(model.predict(X_test), dtype=float), None, fit_seconds, {}
    return model.predict_proba(X_test), list(model.classes_), fit_seconds, {}


def run_mlpilot_mlp(train, test, target, task, budget, seed, cpus, time_column=None):
    """mlpilot with the candidate MLP family in its search (bench/mlp_family.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mlp_family import enable

    enable()
    return run_mlpilot(train, test, target, task, budget, seed, cpus, time_column)


RUNNERS = {"mlpilot": run_mlpilot, "mlpilot_mlp": run_mlpilot_mlp, "flaml": run_flaml,
           "autogluon": run_autogluon,
           "lightgbm_default": run_lightgbm_default}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--framework", choices=sorted(RUNNERS), required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--time-column", default=None,
                        help="rows are time-ordered by this column: mlpilot is told (its "
                             "split and validation follow time), FLAML gets split_type='time'; "
                             "AutoGluon's tabular fit has no such option")
    args = parser.parse_args()
    train, test = pd.read_parquet(args.train), pd.read_parquet(args.test)
    pred, classes, fit_seconds, extra = RUNNERS[args.framework](
        train, test, args.target, args.task, args.budget, args.seed, args.cpus,
        args.time_column)
    np.save(args.out.with_suffix(".npy"), np.asarray(pred, dtype=float))
    args.out.write_text(json.dumps({"fit_seconds": fit_seconds, "classes": classes,
                                    **extra}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
