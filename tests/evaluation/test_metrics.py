"""Metrics agree with scikit-learn on real predictions, and know their direction."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, DataError
from mlpilot.evaluation.metrics import (
    Metric,
    default_metric,
    evaluate,
    get_metric,
    is_better,
    metric_names,
)

FLIGHTS = Path(__file__).parents[2] / "examples" / "flights_sample.parquet"
FEATURES = ["month", "day", "sched_dep_time", "distance", "hour", "minute"]


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    return pd.read_parquet(FLIGHTS).iloc[:6000].reset_index(drop=True)


@pytest.fixture(scope="module")
def delay_predictions(flights):
    """Held-out delay probabilities (n, 2) from a logistic regression on the first 4,000 rows."""
    X, y = flights[FEATURES].to_numpy(float), flights["delayed"].to_numpy()
    model = LogisticRegression(max_iter=500).fit(X[:4000], y[:4000])
    return y[4000:], model.predict_proba(X[4000:])


@pytest.fixture(scope="module")
def origin_predictions(flights):
    """Held-out origin-airport probabilities (n, 3), labels encoded 0..2."""
    X = flights[["distance", "sched_dep_time", "hour"]].to_numpy(float)
    codes, _ = pd.factorize(flights["origin"], sort=True)
    model = LogisticRegression(max_iter=1000).fit(X[:4000], codes[:4000])
    return codes[4000:], model.predict_proba(X[4000:])


@pytest.fixture(scope="module")
def distance_predictions(flights):
    X = flights[["sched_dep_time", "sched_arr_time", "hour"]].to_numpy(float)
    y = flights["distance"].to_numpy(float)
    model = LinearRegression().fit(X[:4000], y[:4000])
    return y[4000:], model.predict(X[4000:])


def test_binary_metrics_match_sklearn(delay_predictions):
    y, p = delay_predictions
    got = evaluate(Task.BINARY, y, p)
    assert set(got) == set(metric_names(Task.BINARY))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert got["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, p.argmax(1)))
    assert got["f1"] == pytest.approx(skm.f1_score(y, (p[:, 1] >= 0.5).astype(int)))
    json.dumps(got, allow_nan=False)


def test_positive_class_probabilities_alone_are_accepted(delay_predictions):
    y, p = delay_predictions
    auc = get_metric("roc_auc", Task.BINARY)
    assert auc(y, p[:, 1]) == auc(y, p)


def test_multiclass_metrics_match_sklearn(origin_predictions):
    y, p = origin_predictions
    got = evaluate(Task.MULTICLASS, y, p)
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, p.argmax(1), average="macro"))


def test_multiclass_with_an_absent_class(origin_predictions):
    y, p = origin_predictions
    keep = y != 2
    got = evaluate(Task.MULTICLASS, y[keep], p[keep])
    assert got["log_loss"] == pytest.approx(skm.log_loss(y[keep], p[keep], labels=[0, 1, 2]))
    assert math.isfinite(got["roc_auc"])


def test_regression_metrics_match_sklearn(distance_predictions):
    y, pred = distance_predictions
    got = evaluate(Task.REGRESSION, y, pred)
    assert got == pytest.approx({
        "rmse": skm.root_mean_squared_error(y, pred),
        "mae": skm.mean_absolute_error(y, pred),
        "r2": skm.r2_score(y, pred),
    })


def test_labels_are_encoded_with_classes(delay_predictions):
    y, p = delay_predictions
    labels = np.where(y == 1, "late", "on time")
    by_label = evaluate(Task.BINARY, labels, p, classes=["on time", "late"])
    assert by_label == evaluate(Task.BINARY, y, p)
    # codes still work when classes are given (column i is classes[i])
    assert evaluate(Task.BINARY, y, p, classes=["on time", "late"]) == by_label


def test_undefined_auc_is_none_not_nan():
    got = evaluate(Task.BINARY, np.array([1, 1, 1]), np.array([[.2, .8], [.6, .4], [.1, .9]]))
    assert got["roc_auc"] is None and got["accuracy"] == pytest.approx(2 / 3)
    json.dumps(got, allow_nan=False)
    assert not is_better(got["roc_auc"], 0.5, get_metric("roc_auc", Task.BINARY))


def test_unknown_labels_are_refused():
    with pytest.raises(DataError, match=r"labels do not match the model's classes.*'maybe'"):
        evaluate(Task.BINARY, np.array(["yes", "maybe"]), np.array([[.2, .8], [.6, .4]]),
                 classes=["no", "yes"])


def test_defaults_and_directions():
    assert default_metric(Task.BINARY).name == "roc_auc"
    assert default_metric(Task.MULTICLASS).name == "log_loss"
    assert default_metric(Task.REGRESSION).name == "rmse"
    assert get_metric("log_loss", Task.BINARY).greater_is_better is False
    assert get_metric("AUC", Task.BINARY).name == "roc_auc"
    assert isinstance(get_metric("r2", Task.REGRESSION), Metric)


def test_is_better_follows_the_direction():
    auc = get_metric("roc_auc", Task.BINARY)
    rmse = get_metric("rmse", Task.REGRESSION)
    assert is_better(0.9, 0.8, auc) and not is_better(0.8, 0.9, auc)
    assert is_better(3.0, 4.0, rmse) and not is_better(4.0, 3.0, rmse)
    assert not is_better(4.0, 4.0, rmse)
    assert is_better(4.0, None, rmse)
    assert not is_better(float("nan"), 4.0, rmse)


def test_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown metric 'auprc'.*roc_auc, log_loss"):
        get_metric("auprc", Task.BINARY)


def test_metric_for_another_task():
    with pytest.raises(ConfigError, match=r"'rmse' does not apply to binary.*roc_auc"):
        get_metric("rmse", Task.BINARY)


def test_label_metrics_use_the_model_decision_threshold():
    y = np.array([0, 0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.65, 0.35], [0.6, 0.4]])
    at_half = evaluate(Task.BINARY, y, proba)
    tuned = evaluate(Task.BINARY, y, proba, threshold=0.325)
    assert at_half["f1"] == 0.0 and tuned["f1"] == 1.0
    assert tuned["accuracy"] == 1.0 and tuned["roc_auc"] == at_half["roc_auc"]
