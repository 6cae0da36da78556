"""The LightGBM family: gradient-boosted trees, deterministic, stopped early or at the deadline.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> adapter = LightGBMAdapter()
    >>> params = {**adapter.default_params(Task.BINARY, 200), "n_estimators": 20}
    >>> model = adapter.fit(X, y, task=Task.BINARY, n_classes=2, params=params, seed=0,
    ...                     n_threads=1)
    >>> adapter.predict(model, X[:3], Task.BINARY).shape
    (3, 2)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np

from mlpilot.core.config import Task
from mlpilot.core.errors import IntegrityError
from mlpilot.models.base import ModelAdapter, Param, balanced_weights

EARLY_STOPPING_ROUNDS = 50

DEFAULTS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 1.0,
    "lambda_l2": 1e-3,
    "min_data_per_group": 50,
    "cat_smooth": 10.0,
}

SPACE: tuple[Param, ...] = (
    Param("learning_rate", "float", 0.01, 0.3, log=True),
    Param("num_leaves", "int", 4, 256, log=True),
    Param("min_child_samples", "int", 2, 200, log=True),
    Param("feature_fraction", "float", 0.3, 1.0),
    Param("bagging_fraction", "float", 0.5, 1.0),
    Param("lambda_l2", "float", 1e-3, 10.0, log=True),
    Param("cat_smooth", "float", 1.0, 100.0, log=True),
)


class _StopAtDeadline:
    """Early stopping on the first validation metric, plus a hard stop at the deadline.

    Either way it raises :class:`lightgbm.callback.EarlyStopException` with the best iteration
    so far, so the booster keeps its best trees.
    """

    order = 30

    def __init__(self, deadline: float | None, patience: int) -> None:
        self.deadline = deadline
        self.patience = patience
        self.cut_at: int | None = None
        self.best_iteration = 0
        self.best_score: float | None = None
        self.best_results: list[Any] = []

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        results = env.evaluation_result_list or []
        if results:
            score = float(results[0][2])
            better = results[0][3]
            if (self.best_score is None or (score > self.best_score if better
                                            else score < self.best_score)):
                self.best_score, self.best_iteration = score, env.iteration
                self.best_results = list(results)
            elif env.iteration - self.best_iteration >= self.patience:
                raise lgb.callback.EarlyStopException(self.best_iteration, self.best_results)
        else:
            self.best_iteration = env.iteration
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.cut_at = env.iteration + 1
            raise lgb.callback.EarlyStopException(self.best_iteration, self.best_results)
        if env.iteration == env.end_iteration - 1:  # the last round keeps the best one too
            raise lgb.callback.EarlyStopException(self.best_iteration, self.best_results)


class LightGBMAdapter(ModelAdapter):
    """LightGBM via ``lgb.train``; dumps the native model text at the best iteration."""

    name: ClassVar[str] = "lightgbm"
    preprocessing: ClassVar[str] = "tree"
    relative_cost: ClassVar[float] = 1.0
    file_suffix: ClassVar[str] = "txt"
    small_params: ClassVar[dict[str, Any]] = {"n_estimators": 30, "num_leaves": 15}
    rounds_param: ClassVar[str | None] = "n_estimators"
    supports_class_weight: ClassVar[bool] = True

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        return dict(DEFAULTS)

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> lgb.Booster:
        settings = dict(params)
        weights = balanced_weights(y, settings) if task.is_classification else None
        settings.pop("class_weight", None)
        rounds = int(settings.pop("n_estimators", DEFAULTS["n_estimators"]))
        settings.update(
            deterministic=True, force_row_wise=True, num_threads=int(n_threads), seed=int(seed),
            verbosity=-1, feature_pre_filter=False,
        )
        if settings.get("bagging_fraction", 1.0) < 1.0:
            settings["bagging_freq"] = 1
        if task is Task.BINARY:
            settings.update(objective="binary", metric="binary_logloss")
        elif task is Task.MULTICLASS:
            settings.update(objective="multiclass", metric="multi_logloss",
                            num_class=int(n_classes or int(np.max(y)) + 1))
        else:
            settings.update(objective="regression", metric="l2")
        cats = list(categorical_indices)
        train = lgb.Dataset(X, label=y, weight=weights, categorical_feature=cats,
                            free_raw_data=True)
        valid_sets = []
        if X_valid is not None and y_valid is not None:
            valid_sets.append(lgb.Dataset(X_valid, label=y_valid, categorical_feature=cats,
                                          reference=train))
        stopper = _StopAtDeadline(deadline, EARLY_STOPPING_ROUNDS)
        booster = lgb.train(settings, train, num_boost_round=rounds, valid_sets=valid_sets,
                            valid_names=["valid"] * len(valid_sets), callbacks=[stopper])
        booster._mlpilot_cut_at = stopper.cut_at
        return booster

    def fitted_rounds(self, model: lgb.Booster) -> int | None:
        return int(model.best_iteration if model.best_iteration > 0
                   else model.current_iteration())

    def predict(self, model: lgb.Booster, X: np.ndarray, task: Task) -> np.ndarray:
        best = model.best_iteration if model.best_iteration > 0 else None
        raw = np.asarray(model.predict(X, num_iteration=best), dtype=np.float64)
        if task is Task.BINARY:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def dump(self, model: lgb.Booster) -> bytes:
        """Model text at the best iteration, without the training-parameters block (it records
        settings such as the round limit, which do not affect predictions; without it a fit cut
        at its deadline and its replay for the recorded rounds are the same bytes)."""
        best = model.best_iteration if model.best_iteration > 0 else None
        text = model.model_to_string(num_iteration=best)
        start = text.find("\nparameters:\n")
        end = text.find("end of parameters\n", start)
        if start >= 0 and end > start:
            text = text[:start] + text[end + len("end of parameters\n"):]
        return text.encode("utf-8")

    def load(self, data: bytes) -> lgb.Booster:
        try:
            return lgb.Booster(model_str=data.decode("utf-8"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise IntegrityError("the LightGBM model file cannot be read", found=str(exc),
                                 fix="re-create the artifact; it was modified or damaged") from exc
