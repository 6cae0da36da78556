"""Random forests and extra trees (scikit-learn), grown in chunks until done or the deadline.

Both read "tree" features: scikit-learn trees handle NaN natively, and categorical codes act as
ordered numbers. Chunks are sized from the measured time per tree so the last one ends near
the deadline. Prediction is single-threaded (``n_jobs=1`` after fit): parallel prediction sums
tree outputs in a racy order and would not be bit-reproducible.

Example:
    >>> import numpy as np
    >>> from mlpilot.core.config import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = X[:, 0] * 2.0
    >>> adapter = ExtraTreesAdapter()
    >>> params = {**adapter.default_params(Task.REGRESSION, 100), "n_estimators": 10}
    >>> model = adapter.fit(X, y, task=Task.REGRESSION, n_classes=None, params=params, seed=0,
    ...                     n_threads=1)
    >>> len(model.estimators_), adapter.predict(model, X[:4], Task.REGRESSION).shape
    (10, (4,))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from mlpilot.core.config import Task
from mlpilot.models.base import (
    ModelAdapter,
    Param,
    balanced_weights,
    past,
    proba_columns,
    skops_dump,
    skops_load,
)
from mlpilot.models.forest_format import dump_forest, is_forest_bytes, load_forest

FIRST_CHUNK = 8
MAX_CHUNK = 50

DEFAULTS: dict[str, Any] = {
    "n_estimators": 200,
    "max_features": 0.5,
    "min_samples_leaf": 2,  # by default grows with the rows: see ROWS_PER_LEAF
    "max_depth": 0,  # 0 means unlimited (Optuna-friendly)
}
# Fully grown trees make models of ~80 bytes per training row per tree (400 MB for 200 trees on
# 35k rows); a default leaf of one per 1,000 rows (2..50) keeps them near 30 MB at any size.
ROWS_PER_LEAF = 1000

SPACE: tuple[Param, ...] = (
    Param("n_estimators", "int", 50, 500, log=True),
    Param("max_features", "float", 0.1, 1.0),
    Param("min_samples_leaf", "int", 1, 50, log=True),
)

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
)


class _ForestAdapter(ModelAdapter):
    """Shared fitting for the two scikit-learn forest families."""

    preprocessing: ClassVar[str] = "tree"
    file_suffix: ClassVar[str] = "forest"
    small_params: ClassVar[dict[str, Any]] = {"n_estimators": 20, "min_samples_leaf": 5}
    rounds_param: ClassVar[str | None] = "n_estimators"
    supports_class_weight: ClassVar[bool] = True
    classifier: ClassVar[type]
    regressor: ClassVar[type]

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        leaf = min(50, max(int(DEFAULTS["min_samples_leaf"]), round(n_rows / ROWS_PER_LEAF)))
        return {**DEFAULTS, "min_samples_leaf": leaf}

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE

    def estimate_memory_mb(self, n_rows: int, n_features: int, params: dict[str, Any]) -> float:
        """Trees hold about 2 nodes per leaf, ~80 bytes a node, n_rows / leaf size leaves."""
        trees = int(params.get("n_estimators", DEFAULTS["n_estimators"]))
        leaf = max(1, int(params.get("min_samples_leaf", DEFAULTS["min_samples_leaf"])))
        nodes = 2 * n_rows / leaf
        return (super().estimate_memory_mb(n_rows, n_features, params)
                + trees * nodes * 80 / 2**20)

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> Any:
        total = max(1, int(params.get("n_estimators", DEFAULTS["n_estimators"])))
        depth = int(params.get("max_depth", 0))
        cls = self.classifier if task.is_classification else self.regressor
        weights = balanced_weights(y, params) if task.is_classification else None
        model = cls(
            n_estimators=min(FIRST_CHUNK, total),
            max_features=float(params.get("max_features", DEFAULTS["max_features"])),
            min_samples_leaf=int(params.get("min_samples_leaf", DEFAULTS["min_samples_leaf"])),
            max_depth=depth or None,
            n_jobs=int(n_threads),
            random_state=int(seed),
            warm_start=True,
        )
        while True:
            started = time.monotonic()
            grown = len(getattr(model, "estimators_", ()))
            model.fit(X, y, sample_weight=weights)
            if model.n_estimators >= total or past(deadline):
                break
            per_tree = (time.monotonic() - started) / max(1, model.n_estimators - grown)
            room = MAX_CHUNK if deadline is None else (deadline - time.monotonic()) / 3.0
            chunk = int(min(MAX_CHUNK, max(1, room / max(per_tree, 1e-6))))
            model.n_estimators = min(total, model.n_estimators + chunk)
        # threads add tree outputs in a racy order; predicting serially keeps results bit-exact
        model.n_jobs = 1
        # warm-started trees draw their seeds in order, so the same count gives the same forest
        model._mlpilot_cut_at = model.n_estimators if model.n_estimators < total else None
        return model

    def fitted_rounds(self, model: Any) -> int | None:
        return len(model.estimators_)

    def predict(self, model: Any, X: np.ndarray, task: Task) -> np.ndarray:
        if not task.is_classification:
            return np.asarray(model.predict(X), dtype=np.float64)
        return proba_columns(model.predict_proba(X), np.asarray(model.classes_), None)

    def model_size_bytes(self, model: Any) -> int:
        """The tree arrays' bytes (what the model file holds), without dumping it."""
        return int(sum(tree.tree_.__getstate__()["nodes"].nbytes
                       + tree.tree_.__getstate__()["values"].nbytes
                       for tree in model.estimators_))

    def dump(self, model: Any) -> bytes:
        try:
            return dump_forest(model)
        except TypeError:  # an attribute the compact format does not hold: the generic one
            return skops_dump(model)

    def load(self, data: bytes) -> Any:
        if is_forest_bytes(data):
            return load_forest(data)
        return skops_load(data, TRUSTED_TYPES)  # artifacts saved before the compact format


class RandomForestAdapter(_ForestAdapter):
    """``RandomForestClassifier`` / ``RandomForestRegressor``."""

    name: ClassVar[str] = "random_forest"
    relative_cost: ClassVar[float] = 2.0
    classifier: ClassVar[type] = RandomForestClassifier
    regressor: ClassVar[type] = RandomForestRegressor


class ExtraTreesAdapter(_ForestAdapter):
    """``ExtraTreesClassifier`` / ``ExtraTreesRegressor``."""

    name: ClassVar[str] = "extra_trees"
    relative_cost: ClassVar[float] = 1.2
    classifier: ClassVar[type] = ExtraTreesClassifier
    regressor: ClassVar[type] = ExtraTreesRegressor
