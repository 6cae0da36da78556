"""Does fitting on log1p(y) or sqrt(y) pay, in the target's own units? (models/target.py)

On the shared regression datasets, the benchmark's training rows (bench/automl.py's split):
LightGBM (300 rounds, learning rate 0.05, every categorical column native) fitted on the target
as it is, on ``log1p(y)`` and on ``sqrt(y)``, predictions mapped back with
``mlpilot.models.target.inverse``. Prints the 5-fold RMSE on the training rows (what the search
sees) and the RMSE on the benchmark's test rows, in the target's units, per transform.

    flock /tmp/mlpilot-bench.lock .venv/bin/python bench/target_transform.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from automl import DATASETS, split

from mlpilot.models.target import TRANSFORMS, forward, inverse

#: the regression datasets with a target no value of which is negative (the time-ordered
#: bikeshare is left out: a shuffled 5-fold score says little about later rows)
CASES = (("ames", "Sale_Price"), ("diamonds", "price"), ("wage", "wage"),
         ("diabetes", "target"))
PARAMS = {"n_estimators": 300, "learning_rate": 0.05, "verbose": -1, "random_state": 0,
          "n_jobs": 2, "deterministic": True, "force_row_wise": True}


def native(X: pd.DataFrame, *others: pd.DataFrame) -> list[pd.DataFrame]:
    """The frames with every text column as a pandas categorical of the training levels."""
    frames = [X.copy(), *(o.copy() for o in others)]
    for column in X.columns:
        if X[column].dtype.kind in "OUT" or str(X[column].dtype) in ("string", "str"):
            levels = pd.Index(sorted(X[column].dropna().astype(str).unique()))
            for frame in frames:
                values = frame[column].astype("object")
                frame[column] = pd.Categorical(values.where(values.isin(levels)),
                                               categories=levels)
    return frames


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def main() -> int:
    print(f"{'dataset':<10} {'transform':<9} {'5-fold RMSE':>12} {'test RMSE':>11}")
    for name, target in CASES:
        frame = pd.read_parquet(DATASETS / f"{name}.parquet")
        train, test = split(name, frame, target, "regression")
        X, Xt = native(train.drop(columns=[target]), test.drop(columns=[target]))
        y, yt = train[target].to_numpy(float), test[target].to_numpy(float)
        for transform in TRANSFORMS:
            oof = np.zeros(len(y))
            for fit_rows, held in KFold(5, shuffle=True, random_state=0).split(X):
                model = lgb.LGBMRegressor(**PARAMS).fit(X.iloc[fit_rows],
                                                        forward(transform, y[fit_rows]))
                oof[held] = inverse(transform, model.predict(X.iloc[held]))
            model = lgb.LGBMRegressor(**PARAMS).fit(X, forward(transform, y))
            test_rmse = rmse(inverse(transform, model.predict(Xt)), yt)
            print(f"{name:<10} {transform:<9} {rmse(oof, y):>12,.2f} {test_rmse:>11,.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
