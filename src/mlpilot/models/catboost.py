"""The CatBoost family: ordered boosting with its own categorical encodings.

Categorical columns arrive as integer codes (NaN for missing or unseen, passed as -1) and are
declared as categorical features, so CatBoost applies its ordered target statistics. Training
stops on the validation loss (50 rounds without improvement) or at the deadline, and keeps the
best iteration. The dump is CatBoost's own binary model format (no code is executed on load).

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> adapter = CatBoostAdapter()
    >>> params = {**adapter.default_params(Task.BINARY, 200), "n_estimators": 20}
    >>> model = adapter.fit(X, y, task=Task.BINARY, n_classes=2, params=params, seed=0,
    ...                     n_threads=1)
    >>> adapter.predict(model, X[:3], Task.BINARY).shape
    (3, 2)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from catboost import CatBoost, CatBoostError, Pool

from mlpilot.core.config import Task
from mlpilot.core.errors import IntegrityError
from mlpilot.models.base import ModelAdapter, Param, balanced_weights, past

EARLY_STOPPING_ROUNDS = 50
STOP_AFTER = "_stop_after"

DEFAULTS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.08,
    "depth": 6,
    "l2_leaf_reg": 3.0,
    "random_strength": 1.0,
}

SPACE: tuple[Param, ...] = (
    Param("learning_rate", "float", 0.02, 0.3, log=True),
    Param("depth", "int", 3, 8),
    Param("l2_leaf_reg", "float", 0.5, 30.0, log=True),
    Param("random_strength", "float", 0.1, 10.0, log=True),
)


class _Deadline:
    """CatBoost callback: returning False stops training."""

    def __init__(self, deadline: float | None, stop_after: int | None = None) -> None:
        self.deadline = deadline
        self.stop_after = stop_after
        self.cut_at: int | None = None

    def after_iteration(self, info: Any) -> bool:
        if self.stop_after is not None and info.iteration >= self.stop_after:
            return False
        if past(self.deadline):
            self.cut_at = int(info.iteration)  # iterations done (1-based)
            return False
        return True


class CatBoostAdapter(ModelAdapter):
    """CatBoost (``CatBoost`` core API), deterministic for a fixed seed and thread count."""

    name: ClassVar[str] = "catboost"
    preprocessing: ClassVar[str] = "tree"
    relative_cost: ClassVar[float] = 3.0
    file_suffix: ClassVar[str] = "cbm"
    small_params: ClassVar[dict[str, Any]] = {"n_estimators": 30, "depth": 4}
    # CatBoost's result depends on the iteration limit itself, so a replay keeps the limit and
    # stops after the recorded iterations instead (a pseudo-parameter read by ``fit``)
    rounds_param: ClassVar[str | None] = STOP_AFTER
    supports_class_weight: ClassVar[bool] = True

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        return dict(DEFAULTS)

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> CatBoost:
        settings = dict(params)
        weights = balanced_weights(y, settings) if task.is_classification else None
        settings.pop("class_weight", None)
        stop_after = settings.pop(STOP_AFTER, None)
        settings["iterations"] = int(settings.pop("n_estimators", DEFAULTS["n_estimators"]))
        settings.update(random_seed=int(seed), thread_count=int(n_threads),
                        allow_writing_files=False, verbose=False, use_best_model=True)
        if task is Task.BINARY:
            settings["loss_function"] = "Logloss"
        elif task is Task.MULTICLASS:
            settings["loss_function"] = "MultiClass"
            settings["classes_count"] = int(n_classes or int(np.max(y)) + 1)
        else:
            settings["loss_function"] = "RMSE"
        cats = list(categorical_indices)
        train = Pool(_frame(X, cats), label=y, cat_features=cats, weight=weights)
        eval_set = None
        if X_valid is not None and y_valid is not None:
            eval_set = Pool(_frame(X_valid, cats), label=y_valid, cat_features=cats)
            settings["od_type"], settings["od_wait"] = "Iter", EARLY_STOPPING_ROUNDS
        else:
            settings["use_best_model"] = False
        model = CatBoost(settings)
        stopper = _Deadline(deadline, None if stop_after is None else int(stop_after))
        model.fit(train, eval_set=eval_set, callbacks=[stopper])
        model._mlpilot_cut_at = stopper.cut_at  # type: ignore[attr-defined]
        model._mlpilot_cats = cats  # type: ignore[attr-defined]
        return model

    def fitted_rounds(self, model: CatBoost) -> int | None:
        return int(model.tree_count_)  # use_best_model shrank it to the best iteration

    def predict(self, model: CatBoost, X: np.ndarray, task: Task) -> np.ndarray:
        cats = list(getattr(model, "_mlpilot_cats", model.get_cat_feature_indices()))
        pool = Pool(_frame(X, cats), cat_features=cats)
        if task.is_classification:
            proba = np.asarray(model.predict(pool, prediction_type="Probability",
                                             thread_count=1), dtype=np.float64)
            return proba if proba.ndim == 2 else np.column_stack([1.0 - proba, proba])
        return np.asarray(model.predict(pool, thread_count=1), dtype=np.float64)

    def dump(self, model: CatBoost) -> bytes:
        """The model in CatBoost's binary format, canonical: a freshly trained model carries
        training-time metadata that a loaded one does not, so the bytes are taken after one
        load, where dump and load are a fixed point."""
        loaded = model if getattr(model, "_mlpilot_loaded", False) else self.load(_save(model))
        # every training stamps a random model GUID; a fixed one keeps equal models equal bytes
        metadata = loaded.get_metadata()
        metadata["model_guid"] = FIXED_GUID
        # training-time records (parameters such as the iteration limit, metric histories,
        # output options) do not affect predictions; without them a fit cut at its deadline and
        # its replay for the recorded rounds are the same bytes. The loss function stays: the
        # probabilities are computed for it
        loss = json.loads(metadata["params"]).get("loss_function") if "params" in metadata \
            else None
        for key in ("train_finish_time", "params", "training", "output_options"):
            if key in metadata:
                del metadata[key]
        if loss is not None:  # without it CatBoost warns on every probability it predicts
            metadata["params"] = json.dumps({"loss_function": loss}, sort_keys=True)
        return _save(loaded)

    def load(self, data: bytes) -> CatBoost:
        model = CatBoost()
        try:
            model.load_model(blob=data)
        except CatBoostError as exc:
            raise IntegrityError("the CatBoost model file cannot be read", found=str(exc)[:200],
                                 fix="re-create the artifact; it was modified or damaged") from exc
        model._mlpilot_loaded = True  # type: ignore[attr-defined]
        return model


FIXED_GUID = "00000000-00000000-00000000-00000000"


def _save(model: CatBoost) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".cbm")
    os.close(fd)
    try:
        model.save_model(path, format="cbm")
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


def _frame(X: np.ndarray, cats: Sequence[int]) -> pd.DataFrame:
    """Numeric columns as floats; categorical codes as int64 with -1 for missing."""
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    for i in cats:
        column = frame.iloc[:, i]
        frame[f"f{i}"] = np.where(np.isnan(column), -1, column).astype(np.int64)
    return frame
