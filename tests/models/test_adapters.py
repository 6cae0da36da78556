"""One contract every model family must pass, parametrized over the registry and the tasks."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError
from mlpilot.models.features import FeaturePipeline
from mlpilot.models.registry import FAMILIES, get_adapter

TASK_DATA = {Task.BINARY: "delay_data", Task.MULTICLASS: "origin_data",
             Task.REGRESSION: "distance_data"}

# parameters that would run for minutes without a deadline
LARGE_PARAMS = {
    "lightgbm": {"n_estimators": 100_000, "learning_rate": 0.001, "num_leaves": 255,
                 "min_child_samples": 2},
    "random_forest": {"n_estimators": 20_000, "max_features": 1.0, "min_samples_leaf": 1},
    "extra_trees": {"n_estimators": 20_000, "max_features": 1.0, "min_samples_leaf": 1},
    "linear": {"max_iter": 100_000, "C": 1e4},
    "xgboost": {"n_estimators": 100_000, "learning_rate": 0.001, "max_depth": 10,
                "min_child_weight": 0.5},
    "catboost": {"n_estimators": 100_000, "learning_rate": 0.001, "depth": 8},
    "knn": {},
    "baseline": {},
}

_matrices: dict = {}


def matrices(request, task: Task, mode: str):
    """Feature matrices for a task and preprocessing mode (cached across the module)."""
    key = (task, mode)
    if key not in _matrices:
        data = request.getfixturevalue(TASK_DATA[task])
        if mode == "none":
            pipeline, cats = None, []
            Xt, Xv = np.zeros((len(data["train_X"]), 0)), np.zeros((len(data["valid_X"]), 0))
        else:
            pipeline = FeaturePipeline(mode).fit(data["train_X"], data["schema"])
            cats = pipeline.categorical_indices_
            Xt, Xv = pipeline.transform(data["train_X"]), pipeline.transform(data["valid_X"])
        _matrices[key] = (Xt, data["train_y"], Xv, data["valid_y"], cats, data)
    return _matrices[key]


def fit_small(request, family: str, task: Task, **overrides):
    adapter = get_adapter(family)
    Xt, yt, Xv, yv, cats, data = matrices(request, task, adapter.preprocessing)
    params = {**adapter.default_params(task, len(yt)), **adapter.small_params, **overrides}
    n_classes = len(data["classes"]) if data["classes"] else None
    model = adapter.fit(Xt, yt, task=task, n_classes=n_classes, params=params, seed=0,
                        n_threads=2, categorical_indices=cats, X_valid=Xv, y_valid=yv)
    return adapter, model, Xv, n_classes


@pytest.fixture(autouse=True, scope="module")
def _clear_cache():
    yield
    _matrices.clear()


@pytest.mark.parametrize("task", list(TASK_DATA))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fit_predict_shapes_and_probabilities(request, family, task):
    adapter, model, Xv, n_classes = fit_small(request, family, task)
    pred = adapter.predict(model, Xv, task)
    if task.is_classification:
        assert pred.shape == (len(Xv), n_classes)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-9)
        assert (pred >= 0).all()
    else:
        assert pred.shape == (len(Xv),)
        assert np.isfinite(pred).all()


@pytest.mark.parametrize("task", [Task.BINARY, Task.REGRESSION])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_dump_load_gives_identical_predictions_and_stable_bytes(request, family, task):
    adapter, model, Xv, _ = fit_small(request, family, task)
    data = adapter.dump(model)
    assert isinstance(data, bytes) and data == adapter.dump(model)
    again = adapter.load(data)
    np.testing.assert_array_equal(adapter.predict(again, Xv, task),
                                  adapter.predict(model, Xv, task))
    assert adapter.dump(again) == data


def test_a_loaded_multiclass_catboost_predicts_without_warnings(request, capfd):
    adapter, model, Xv, _ = fit_small(request, "catboost", Task.MULTICLASS)
    again = adapter.load(adapter.dump(model))
    capfd.readouterr()
    np.testing.assert_array_equal(adapter.predict(again, Xv, Task.MULTICLASS),
                                  adapter.predict(model, Xv, Task.MULTICLASS))
    # the stored model keeps its loss function, so CatBoost does not warn that it assumes one
    assert "loss function" not in capfd.readouterr().err


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_seed_same_model(request, family):
    adapter, first, Xv, _ = fit_small(request, family, Task.BINARY)
    _, second, _, _ = fit_small(request, family, Task.BINARY)
    np.testing.assert_array_equal(adapter.predict(first, Xv, Task.BINARY),
                                  adapter.predict(second, Xv, Task.BINARY))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fit_stops_at_its_deadline(request, family):
    adapter = get_adapter(family)
    Xt, yt, Xv, _, cats, _ = matrices(request, Task.BINARY, adapter.preprocessing)
    params = {**adapter.default_params(Task.BINARY, len(yt)), **LARGE_PARAMS[family]}
    started = time.monotonic()
    model = adapter.fit(Xt, yt, task=Task.BINARY, n_classes=2, params=params, seed=0,
                        n_threads=2, categorical_indices=cats, deadline=started + 0.5)
    assert time.monotonic() - started < 3.0  # minutes without the deadline
    assert adapter.predict(model, Xv[:5], Task.BINARY).shape == (5, 2)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_search_space_is_namespaced_and_contains_the_defaults(family):
    adapter = get_adapter(family)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    defaults = adapter.default_params(Task.BINARY, 1000)
    study.enqueue_trial({f"{family}.{p.name}": defaults[p.name]
                         for p in adapter.space(Task.BINARY, 1000)})
    trial = study.ask()
    params = adapter.search_space(trial, Task.BINARY, 1000)
    assert params == defaults
    assert all(key.startswith(f"{family}.") for key in trial.params)
    assert set(params) >= {key.split(".", 1)[1] for key in trial.params}


def test_unknown_family_lists_the_valid_names():
    with pytest.raises(ConfigError, match="one of baseline, catboost, extra_trees, knn"):
        get_adapter("xgb")


WEIGHTED = sorted(f for f in FAMILIES if get_adapter(f).supports_class_weight)


def test_class_weights_are_supported_by_the_weighted_families():
    assert {"lightgbm", "xgboost", "catboost", "linear", "random_forest",
            "extra_trees"} <= set(WEIGHTED)


@pytest.mark.parametrize("family", WEIGHTED)
def test_balanced_class_weights_raise_the_minority_class_probability(request, family):
    # delays are the minority class (about 1 in 5): balanced weights count each delayed flight
    # about 4 times as much, so the mean predicted delay probability must rise towards 0.5
    adapter, plain, Xv, _ = fit_small(request, family, Task.BINARY, class_weight="none")
    _, weighted, _, _ = fit_small(request, family, Task.BINARY, class_weight="balanced")
    before = adapter.predict(plain, Xv, Task.BINARY)[:, 1].mean()
    after = adapter.predict(weighted, Xv, Task.BINARY)[:, 1].mean()
    assert after > before + 0.1, (before, after)


def test_knn_stops_when_its_validation_rows_would_not_be_predicted_by_its_deadline():
    """k-NN's fit only stores rows: the time is in predicting the validation rows, so a fit
    with a deadline times the first rows' prediction and stops when the rest would overrun."""
    adapter = get_adapter("knn")
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(20_000, 40)), rng.normal(size=(200_000, 40))
    y = (X[:, 0] > 0).astype(int)
    params = adapter.default_params(Task.BINARY, len(y))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"predicting its 200,000 validation rows would take"):
        adapter.fit(X, y, task=Task.BINARY, n_classes=2, params=params, seed=0, n_threads=1,
                    X_valid=Xv, y_valid=y[:1], deadline=started + 0.2)
    assert time.monotonic() - started < 2.0  # predicting every row takes several seconds
    # the same fit with time to spare, or without a deadline, is a model
    for deadline in (time.monotonic() + 3600.0, None):
        model = adapter.fit(X, y, task=Task.BINARY, n_classes=2, params=params, seed=0,
                            n_threads=1, X_valid=Xv[:5_000], y_valid=y[:1], deadline=deadline)
        assert adapter.predict(model, Xv[:3], Task.BINARY).shape == (3, 2)
