"""The XGBoost family: histogram gradient boosting with native categorical splits.

Categorical columns arrive as integer codes (NaN for missing or unseen) and are declared as
categorical features, so XGBoost partitions their levels instead of ordering them. Training
stops on validation log-loss / L2 (50 rounds without improvement) or at the deadline; the
dump keeps only the trees up to the best iteration, as XGBoost's own JSON model.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> adapter = XGBoostAdapter()
    >>> params = {**adapter.default_params(Task.BINARY, 200), "n_estimators": 20}
    >>> model = adapter.fit(X, y, task=Task.BINARY, n_classes=2, params=params, seed=0,
    ...                     n_threads=1)
    >>> adapter.predict(model, X[:3], Task.BINARY).shape
    (3, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import xgboost as xgb

from mlpilot.core.config import Task
from mlpilot.core.errors import IntegrityError
from mlpilot.models.base import ModelAdapter, Param, balanced_weights, past

EARLY_STOPPING_ROUNDS = 50

DEFAULTS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.05,
    "max_depth": 6,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "max_cat_to_onehot": 8,
}

SPACE: tuple[Param, ...] = (
    Param("learning_rate", "float", 0.01, 0.3, log=True),
    Param("max_depth", "int", 2, 10),
    Param("min_child_weight", "float", 0.5, 50.0, log=True),
    Param("subsample", "float", 0.5, 1.0),
    Param("colsample_bytree", "float", 0.3, 1.0),
    Param("reg_lambda", "float", 1e-3, 10.0, log=True),
)


class _Deadline(xgb.callback.TrainingCallback):
    """Stops boosting once the monotonic deadline has passed."""

    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self.deadline = deadline
        self.cut_at: int | None = None

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if past(self.deadline):
            self.cut_at = epoch + 1
            return True
        return False


class XGBoostAdapter(ModelAdapter):
    """XGBoost via ``xgb.train`` (hist), deterministic for a fixed seed and thread count."""

    name: ClassVar[str] = "xgboost"
    preprocessing: ClassVar[str] = "tree"
    relative_cost: ClassVar[float] = 1.5
    file_suffix: ClassVar[str] = "json"
    small_params: ClassVar[dict[str, Any]] = {"n_estimators": 30, "max_depth": 4}
    rounds_param: ClassVar[str | None] = "n_estimators"
    supports_class_weight: ClassVar[bool] = True

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        return dict(DEFAULTS)

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> xgb.Booster:
        settings = dict(params)
        weights = balanced_weights(y, settings) if task.is_classification else None
        settings.pop("class_weight", None)
        rounds = int(settings.pop("n_estimators", DEFAULTS["n_estimators"]))
        settings["eta"] = settings.pop("learning_rate", DEFAULTS["learning_rate"])
        settings.update(tree_method="hist", nthread=int(n_threads), seed=int(seed),
                        verbosity=0, max_bin=256)
        if task is Task.BINARY:
            settings.update(objective="binary:logistic", eval_metric="logloss")
        elif task is Task.MULTICLASS:
            settings.update(objective="multi:softprob", eval_metric="mlogloss",
                            num_class=int(n_classes or int(np.max(y)) + 1))
        else:
            settings.update(objective="reg:squarederror", eval_metric="rmse")
        types = _feature_types(X.shape[1], categorical_indices)
        train = xgb.DMatrix(X, label=y, weight=weights, feature_types=types,
                            enable_categorical=True, nthread=int(n_threads))
        evals = []
        stopper = _Deadline(deadline)
        # XGBoost stops asking callbacks once one says stop, so early stopping goes first: it
        # must see the round the deadline ends on, as it does when a replay ends there
        callbacks: list[xgb.callback.TrainingCallback] = []
        if X_valid is not None and y_valid is not None:
            evals.append((xgb.DMatrix(X_valid, label=y_valid, feature_types=types,
                                      enable_categorical=True, nthread=int(n_threads)),
                          "valid"))
            callbacks.append(xgb.callback.EarlyStopping(rounds=EARLY_STOPPING_ROUNDS,
                                                        save_best=True))
        callbacks.append(stopper)
        booster = xgb.train(settings, train, num_boost_round=rounds, evals=evals,
                            callbacks=callbacks, verbose_eval=False)
        booster._mlpilot_cut_at = stopper.cut_at
        return booster

    def fitted_rounds(self, model: xgb.Booster) -> int | None:
        return int(model.num_boosted_rounds())  # early stopping kept the best rounds only

    def predict(self, model: xgb.Booster, X: np.ndarray, task: Task) -> np.ndarray:
        types = model.feature_types
        data = xgb.DMatrix(X, feature_types=types, enable_categorical=True, nthread=1)
        raw = np.asarray(model.predict(data), dtype=np.float64)
        if task is Task.BINARY:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def dump(self, model: xgb.Booster) -> bytes:
        return bytes(model.save_raw(raw_format="json"))

    def load(self, data: bytes) -> xgb.Booster:
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(data))
        except xgb.core.XGBoostError as exc:
            raise IntegrityError("the XGBoost model file cannot be read", found=str(exc)[:200],
                                 fix="re-create the artifact; it was modified or damaged") from exc
        booster.set_param({"nthread": 1})
        return booster


def _feature_types(width: int, categorical: Sequence[int]) -> list[str]:
    cats = set(int(i) for i in categorical)
    return ["c" if i in cats else "q" for i in range(width)]
