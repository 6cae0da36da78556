"""Features that count time: found on real flights rows, kept or dropped by the validation rows
of a time-ordered search, and the choice carried into the refit and the replay."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
from mlpilot.models.features import FeaturePipeline
from mlpilot.search import clocks as clocks_module
from mlpilot.search.clocks import DROP_KEY, find_clocks
from mlpilot.search.refit import refit_all
from mlpilot.search.study import SearchResult, run_search
from mlpilot.search.validation import Strategy

from .conftest import Rmse


def test_the_clocks_of_the_real_flights_quarter(flights_slice):
    """Jan–Mar 2013 in time order, the last 30% validating: the day of year of every
    validation row lies beyond the training rows' (a clock); the hour, the day of the month,
    the distance do not, nor the month (March on both sides of the cut)."""
    schema = Schema(columns=tuple(
        ColumnSchema(n, k, str(flights_slice[n].dtype), False) for n, k in {
            "month": ColumnKind.INTEGER, "day": ColumnKind.INTEGER,
            "hour": ColumnKind.INTEGER, "distance": ColumnKind.INTEGER,
            "carrier": ColumnKind.CATEGORICAL, "time_hour": ColumnKind.DATETIME,
            "delayed": ColumnKind.INTEGER}.items()), target="delayed", time_column="time_hour")
    cut = int(len(flights_slice) * 0.7)
    pipeline = FeaturePipeline("tree").fit(flights_slice.iloc[:cut], schema)
    train = pipeline.transform(flights_slice.iloc[:cut])
    valid = pipeline.transform(flights_slice.iloc[cut:])
    names, categorical = pipeline.feature_names_, pipeline.categorical_indices_
    assert find_clocks(train, valid, names, categorical, "time_hour") == [
        "time_hour__dayofyear"]
    # a countdown is a clock too
    doy = names.index("time_hour__dayofyear")
    assert find_clocks(np.hstack([train, -train[:, [doy]]]), np.hstack([valid, -valid[:, [doy]]]),
                       [*names, "countdown"], categorical, "time_hour") == [
        "countdown", "time_hour__dayofyear"]
    # missing values are left out of the share; the time column itself and categorical codes
    # are never clocks
    holes = valid.copy()
    holes[: len(holes) // 2, doy] = np.nan
    assert find_clocks(train, holes, names, categorical, "time_hour") == ["time_hour__dayofyear"]
    assert find_clocks(train, valid, names, categorical, "time_hour__dayofyear") == []
    carrier = names.index("carrier")
    shifted = valid.copy()
    shifted[:, carrier] = train[:, carrier].max() + 1
    assert "carrier" not in find_clocks(train, shifted, names, categorical, "time_hour")


def _series(level_after: float) -> tuple[pd.DataFrame, np.ndarray, Schema]:
    """Hourly rows in time order: y follows x, plus a level that rises along the training
    period (the first 70%) and is ``level_after`` on the validation rows."""
    rng = np.random.default_rng(0)
    n = 3000
    when = pd.date_range("2024-01-01", periods=n, freq="h")
    x = rng.uniform(0, 10, n)
    counter = np.arange(n, dtype=np.float64)
    cut = int(n * 0.7)
    level = np.where(np.arange(n) < cut, 10.0 * np.arange(n) / cut, level_after)
    y = 3.0 * np.sin(x) + level + rng.normal(0, 0.3, n)
    X = pd.DataFrame({"x": x, "counter": counter, "when": when})
    schema = Schema(columns=(ColumnSchema("x", ColumnKind.NUMERIC, "float64", False),
                             ColumnSchema("counter", ColumnKind.NUMERIC, "float64", False),
                             ColumnSchema("when", ColumnKind.DATETIME, "datetime64[ns]", False),
                             ColumnSchema("y", ColumnKind.NUMERIC, "float64", False)),
                    target="y", time_column="when")
    return X, y, schema


def _search(level_after: float, **options) -> tuple[SearchResult, pd.DataFrame, np.ndarray,
                                                     Schema]:
    """A search on :func:`_series`; the clocks alone are checked (no short cycles: those
    have their own tests below)."""
    X, y, schema = _series(level_after)
    cut = int(len(X) * 0.7)
    options.setdefault("max_trials", 4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clocks_module, "MIN_CYCLES", 0)
        result = run_search(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], schema=schema,
                            task=Task.REGRESSION, classes=None, scorer=Rmse(),
                            budget=Budget(120), seed=0, n_threads=2, families=["lightgbm"],
                            strategy="holdout", allow_cv=False, **options)
    return result, X, y, schema


CLOCKS = ["counter", "when__dayofyear", "when__month"]


@pytest.fixture(scope="module")
def dropped() -> tuple[SearchResult, pd.DataFrame, np.ndarray, Schema]:
    # the level falls back to 0 after the training period: a model that reads the clocks
    # predicts the last training days' level (10) for every later row
    return _search(0.0)


def test_clocks_that_hurt_on_the_later_rows_are_dropped_from_every_later_trial(dropped):
    result, X, _, _ = dropped
    families = [t.family for t in result.trials]
    assert families[:4] == ["baseline", "lightgbm", "lightgbm", "lightgbm"]
    first, check, after = result.trials[1], result.trials[2], result.trials[3]
    assert DROP_KEY not in first.params and check.params == {**first.params, DROP_KEY: CLOCKS}
    assert check.seed == first.seed and check.score < first.score
    assert after.params[DROP_KEY] == CLOCKS
    members = [m for m in result.best.members if m.features is not None]
    assert members and all("counter" not in m.features.feature_names_
                           and "when__dayofyear" not in m.features.feature_names_
                           and "x" in m.features.feature_names_ for m in members)
    # the columns stay part of the input: a frame with them predicts
    assert np.isfinite(result.best.predict(X.iloc[-5:])).all()


def test_clocks_that_carry_the_later_level_are_kept():
    # a permanent step in the level: the last training days' level is the right one later
    result, _, _, _ = _search(10.0)
    first, check, after = result.trials[1], result.trials[2], result.trials[3]
    assert check.params[DROP_KEY] == CLOCKS and check.score > first.score
    assert DROP_KEY not in after.params


def test_no_check_without_a_time_column_or_with_cross_validation():
    X, y, schema = _series(0.0)
    plain = Schema(columns=schema.columns, target="y")
    cut = int(len(X) * 0.7)
    for kind, sch in (("holdout", plain), ("cv", schema)):
        result = run_search(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], schema=sch,
                            task=Task.REGRESSION, classes=None, scorer=Rmse(),
                            budget=Budget(120), seed=0, n_threads=2, families=["lightgbm"],
                            strategy=kind, max_trials=3)
        assert not any(DROP_KEY in t.params for t in result.trials), kind


def test_the_replay_and_the_refit_leave_the_same_clocks_out(dropped):
    result, X, y, schema = dropped
    cut = int(len(X) * 0.7)
    replayed = run_search(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], schema=schema,
                          task=Task.REGRESSION, classes=None, scorer=Rmse(), budget=Budget(1),
                          seed=0, n_threads=2, families=["lightgbm"], strategy="holdout",
                          allow_cv=False, replay=result.trials)
    assert [t.params for t in replayed.trials] == [t.params for t in result.trials]
    assert [t.score for t in replayed.trials] == [t.score for t in result.trials]
    outcome = refit_all(X, y, result.members, schema=schema, task=Task.REGRESSION,
                        classes=None, strategy=Strategy("holdout", 1), seed=0, n_threads=2,
                        threshold=None, searched_rows=cut, deadline=time.monotonic() + 60)
    assert outcome.done and outcome.predictor is not None
    dropping = {m.trial for m in result.members if DROP_KEY in m.params}
    assert dropping, "the chosen model has trials fitted without the clocks"
    for member in outcome.predictor.members:
        if member.features is not None and "counter" not in member.features.feature_names_:
            assert "when__dayofyear" not in member.features.feature_names_
    assert sum("counter" not in m.features.feature_names_
               for m in outcome.predictor.members if m.features is not None) >= len(dropping)


def test_a_model_without_its_clocks_exports_to_onnx_and_still_takes_them(dropped):
    from mlpilot.models.onnx_export import export_onnx

    result, X, _, _ = dropped
    exported = export_onnx(result.best, X.iloc[:200])
    # the input contract is the table's: the dropped column is an input the graph ignores
    assert exported.rows_checked == 200 and exported.max_abs_diff < 1e-5
    assert exported.inputs == ("x", "counter", "when")


def test_a_calendar_label_is_a_clock_and_is_dropped_like_one():
    """Month names on the hourly rows (January to early May): the validation rows (from late
    March) hold April and May, levels the training rows never had and code as missing, so the
    label counts time; a search whose later level falls back drops it with the other clocks,
    and the fitted features, tree and linear, lack it while the input keeps it."""
    X, y, schema = _series(0.0)
    X["month"] = X["when"].dt.month_name()
    X["shift"] = X["when"].dt.hour.map(lambda h: f"h{h // 8}")  # recurs every day
    schema = Schema(columns=(*schema.features,
                             ColumnSchema("month", ColumnKind.CATEGORICAL, "str", False),
                             ColumnSchema("shift", ColumnKind.CATEGORICAL, "str", False),
                             ColumnSchema("y", ColumnKind.NUMERIC, "float64", False)),
                    target="y", time_column="when")
    cut = int(len(X) * 0.7)
    tree = FeaturePipeline("tree").fit(X.iloc[:cut], schema)
    train, valid = tree.transform(X.iloc[:cut]), tree.transform(X.iloc[cut:])
    names, categorical = tree.feature_names_, tree.categorical_indices_
    assert {names.index("month"), names.index("shift")} <= set(categorical)
    # the shift's levels all recur: not a clock
    assert find_clocks(train, valid, names, categorical, "when") == ["counter", "month",
                                                                    "when__dayofyear",
                                                                    "when__month"]
    # nor is a label missing on the validation rows no more often than on the training rows
    month = train[:, [names.index("month")]].copy()
    month[::2] = np.nan
    assert find_clocks(month, month[::-1], ["month"], [0]) == []
    for mode in ("tree", "linear"):
        without = FeaturePipeline(mode, ["month"]).fit(X.iloc[:cut], schema)
        assert not any(n == "month" or n.startswith("month=") or n.startswith("month__")
                       for n in without.feature_names_)
        assert without.transform(X.iloc[cut:]).shape[0] == len(X) - cut
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clocks_module, "MIN_CYCLES", 0)  # the clocks alone
        result = run_search(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], schema=schema,
                            task=Task.REGRESSION, classes=None, scorer=Rmse(),
                            budget=Budget(120), seed=0, n_threads=2, families=["lightgbm"],
                            strategy="holdout", allow_cv=False, max_trials=4)
    first, check, after = result.trials[1], result.trials[2], result.trials[3]
    assert check.params[DROP_KEY] == ["counter", "month", "when__dayofyear", "when__month"]
    assert check.score < first.score and after.params[DROP_KEY] == check.params[DROP_KEY]
    assert np.isfinite(result.best.predict(X.iloc[-5:])).all()
    # exported, the graph still takes the month (the table's input contract) and ignores it
    from mlpilot.models.onnx_export import export_onnx

    exported = export_onnx(result.best, X.iloc[:200])
    assert "month" in exported.inputs
    assert exported.rows_checked == 200 and exported.max_abs_diff < 1e-5


def _paydays(later: bool, start: str = "2024-01-01"
             ) -> tuple[pd.DataFrame, np.ndarray, Schema]:
    """Hourly rows over four months from ``start`` (the training rows' 87 days repeat the day
    of the month under 3 times): y follows x, plus 4 on the first three days of each month, on
    every row when ``later`` and on the training rows alone otherwise (a pattern of the
    training months that does not recur)."""
    rng = np.random.default_rng(1)
    n = 3000
    when = pd.date_range(start, periods=n, freq="h")
    x = rng.uniform(0, 10, n)
    cut = int(n * 0.7)
    payday = (when.day <= 3) & ((np.arange(n) < cut) | later)
    y = 3.0 * np.sin(x) + 4.0 * payday + rng.normal(0, 0.3, n)
    X = pd.DataFrame({"x": x, "when": when})
    schema = Schema(columns=(ColumnSchema("x", ColumnKind.NUMERIC, "float64", False),
                             ColumnSchema("when", ColumnKind.DATETIME, "datetime64[ns]", False),
                             ColumnSchema("y", ColumnKind.NUMERIC, "float64", False)),
                    target="y", time_column="when")
    return X, y, schema


@pytest.mark.parametrize("later", [False, True])
def test_a_short_cycle_is_left_out_when_the_later_rows_say_so(later):
    """The day of the month is a short cycle here; after the clocks' check the first
    configuration is fitted once more without it as well (on top of the clocks' decision), and
    every later trial leaves it out when that validates better: when the training months'
    paydays do not recur, not when they do."""
    X, y, schema = _paydays(later)
    cut = int(len(X) * 0.7)
    result = run_search(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], schema=schema,
                        task=Task.REGRESSION, classes=None, scorer=Rmse(), budget=Budget(120),
                        seed=0, n_threads=2, families=["lightgbm"], strategy="holdout",
                        allow_cv=False, max_trials=5)
    first, clocks, cycles, after = result.trials[1:5]
    assert [t.family for t in result.trials[:5]] == ["baseline", *["lightgbm"] * 4]
    assert clocks.params[DROP_KEY] == ["when__dayofyear", "when__month"]
    decided = clocks if clocks.score < first.score else first
    assert cycles.seed == first.seed
    assert cycles.params[DROP_KEY] == sorted({*decided.params.get(DROP_KEY, ()), "when__day"})
    if later:  # the paydays recur: the day of the month pays and stays
        assert cycles.score > decided.score
        assert "when__day" not in after.params.get(DROP_KEY, ())
    else:
        assert cycles.score < decided.score
        assert after.params[DROP_KEY] == cycles.params[DROP_KEY]
        members = [m for m in result.best.members if m.features is not None]
        assert all("when__day" not in m.features.feature_names_ for m in members)
    # a year of training rows repeats the day of the month often enough: no check
    assert clocks_module.find_short_cycles(365 * 86_400.0, ["when__day"], "when") == []
    assert clocks_module.find_short_cycles(364 * 86_400.0, ["when__day"], "when") == [
        "when__day"]


@pytest.mark.parametrize("later", [False, True])
def test_a_short_cycle_is_checked_when_nothing_counts_time(later):
    """From November to February no calendar part is a clock (the validation rows' day of the
    year, month and year all lie inside the training rows' range, which spans New Year), so
    the first configuration is fitted once more without the day of the month alone, straight
    after it, and the later trials follow that fit as in the test above."""
    X, y, schema = _paydays(later, start="2023-11-01")
    cut = int(len(X) * 0.7)
    tree = FeaturePipeline("tree").fit(X.iloc[:cut], schema)
    assert find_clocks(tree.transform(X.iloc[:cut]), tree.transform(X.iloc[cut:]),
                       tree.feature_names_, tree.categorical_indices_, "when") == []
    result = run_search(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], schema=schema,
                        task=Task.REGRESSION, classes=None, scorer=Rmse(), budget=Budget(120),
                        seed=0, n_threads=2, families=["lightgbm"], strategy="holdout",
                        allow_cv=False, max_trials=4)
    first, cycles, after = result.trials[1:4]
    assert [t.family for t in result.trials[:4]] == ["baseline", *["lightgbm"] * 3]
    assert DROP_KEY not in first.params
    assert cycles.seed == first.seed and cycles.params == {**first.params, DROP_KEY: ["when__day"]}
    if later:
        assert cycles.score > first.score and DROP_KEY not in after.params
    else:
        assert cycles.score < first.score and after.params[DROP_KEY] == ["when__day"]
