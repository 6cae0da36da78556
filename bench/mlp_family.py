"""An MLP model family, for measuring whether it earns its place in mlpilot's search.

Issue 3 asks for an MLP "only if it earns its place in the benchmark". This module is that
candidate, written as an ordinary :class:`~mlpilot.models.base.ModelAdapter` (scikit-learn's
``MLPClassifier`` / ``MLPRegressor`` on the "linear" features: imputed, standardised,
one-hot), and :func:`enable` adds it to a process's registry, default families and starting
portfolio. ``bench/automl.py --frameworks mlpilot_mlp`` runs mlpilot with it (same split,
budget and records as the ``mlpilot`` framework), so the two columns compare the search with
and without the MLP. It is not part of the product until such a table says it should be.

A fit holds out 10% of its rows (seeded) and runs adam one epoch at a time (``partial_fit``),
keeping the weights of the epoch with the best validation loss (log loss, or squared error)
and stopping after 10 epochs without a better one, at ``max_iter`` or at its deadline; BLAS on
the approved threads; a regression target is standardised before the fit (and the
predictions mapped back).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from mlpilot.core.config import Task
from mlpilot.models.base import ModelAdapter, Param, past, proba_columns, skops_dump, skops_load

PATIENCE = 10  # epochs without a better validation loss

DEFAULTS: dict[str, Any] = {"width": 128, "depth": 2, "alpha": 1e-4, "learning_rate_init": 1e-3,
                            "batch_size": 256, "max_iter": 200}

SPACE: tuple[Param, ...] = (
    Param("width", "int", 32, 512, log=True),
    Param("depth", "int", 1, 3),
    Param("alpha", "float", 1e-6, 1e-1, log=True),
    Param("learning_rate_init", "float", 1e-4, 1e-2, log=True),
    Param("batch_size", "categorical", choices=(64, 128, 256, 512)),
)


class MLPAdapter(ModelAdapter):
    """``MLPClassifier`` / ``MLPRegressor`` (adam, early stopping), dumped with skops."""

    name: ClassVar[str] = "mlp"
    preprocessing: ClassVar[str] = "linear"
    relative_cost: ClassVar[float] = 3.0
    file_suffix: ClassVar[str] = "skops"
    small_params: ClassVar[dict[str, Any]] = {"width": 32, "max_iter": 20}

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        return dict(DEFAULTS)

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        return SPACE

    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> Any:
        p = {**DEFAULTS, **params}
        settings = dict(hidden_layer_sizes=(int(p["width"]),) * int(p["depth"]),
                        alpha=float(p["alpha"]), learning_rate_init=float(p["learning_rate_init"]),
                        batch_size=min(int(p["batch_size"]), len(X)), random_state=seed)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        n_valid = max(1, len(X) // 10) if len(X) >= 50 else 0
        valid, train = order[:n_valid], order[n_valid:]
        if task.is_classification:
            model: Any = MLPClassifier(**settings)
            target, classes = y, np.unique(y)
        else:
            model = MLPRegressor(**settings)
            center, scale = float(np.mean(y)), float(np.std(y)) or 1.0
            target, classes = (y - center) / scale, None
        best, best_state, waited = np.inf, None, 0
        with threadpool_limits(limits=n_threads, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(int(p["max_iter"])):
                if classes is not None:
                    model.partial_fit(X[train], target[train], classes=classes)
                else:
                    model.partial_fit(X[train], target[train])
                if n_valid:
                    loss = _loss(model, X[valid], target[valid], classes)
                    if loss < best - 1e-6:
                        best, waited = loss, 0
                        best_state = ([c.copy() for c in model.coefs_],
                                      [b.copy() for b in model.intercepts_])
                    else:
                        waited += 1
                    if waited >= PATIENCE:
                        break
                if past(deadline):
                    break
        if best_state is not None:
            model.coefs_, model.intercepts_ = best_state
        if not task.is_classification:
            model.target_center_, model.target_scale_ = center, scale
        return model

    def predict(self, model: Any, X: np.ndarray, task: Task) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="blas"):
            if not task.is_classification:
                raw = np.asarray(model.predict(X), dtype=np.float64)
                return raw * model.target_scale_ + model.target_center_
            return proba_columns(model.predict_proba(X), np.asarray(model.classes_), None)

    def dump(self, model: Any) -> bytes:
        return skops_dump(model)

    def load(self, data: bytes) -> Any:
        import skops.io as sio

        allowed = [t for t in sio.get_untrusted_types(data=data)
                   if t.startswith(("sklearn.", "numpy.", "builtins."))]
        return skops_load(data, tuple(allowed))


def enable() -> None:
    """Add the MLP to this process's registry, default families and starting portfolio."""
    from mlpilot.models import registry
    from mlpilot.search import portfolio, study

    registry.FAMILIES["mlp"] = MLPAdapter
    study.DEFAULT_FAMILIES = (*study.DEFAULT_FAMILIES, "mlp")
    # after k-NN, before the LightGBM variants: a default MLP early in the portfolio
    starts = list(portfolio.PORTFOLIO)
    after_knn = next(i for i, s in enumerate(starts) if s.family == "knn") + 1
    starts.insert(after_knn, portfolio.Start("mlp"))
    portfolio.PORTFOLIO = tuple(starts)


def _loss(model: Any, X: np.ndarray, y: np.ndarray, classes: np.ndarray | None) -> float:
    if classes is None:
        return float(np.mean((model.predict(X) - y) ** 2))
    proba = np.clip(model.predict_proba(X), 1e-15, 1.0)
    index = np.searchsorted(classes, y)
    return float(-np.mean(np.log(proba[np.arange(len(y)), index])))
