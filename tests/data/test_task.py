"""The target: present, with values, and suited to the task it implies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.config import Task
from mlpilot.core.errors import DataError
from mlpilot.data.task import check_target, check_target_for_task, detect_task, drop_missing_target


def test_flights_delay_is_binary(flights):
    check_target(flights, "delayed")
    assert detect_task(flights["delayed"]) is Task.BINARY
    check_target_for_task(flights["delayed"], Task.BINARY)


def test_carrier_is_multiclass_and_distance_regression(flights):
    assert detect_task(flights["carrier"]) is Task.MULTICLASS
    assert detect_task(flights["origin"]) is Task.MULTICLASS
    assert detect_task(flights["distance"]) is Task.REGRESSION
    assert detect_task(flights["distance"].astype("float64")) is Task.REGRESSION


def test_few_whole_numbers_are_classes(flights):
    # month takes 3 values over 50k rows: a class label, not a quantity
    assert detect_task(flights["month"]) is Task.MULTICLASS
    # day takes 31 values: more than 20, so regression
    assert detect_task(flights["day"]) is Task.REGRESSION


def test_booleans_and_two_labels_are_binary():
    assert detect_task(pd.Series([True, False, True])) is Task.BINARY
    assert detect_task(pd.Series(["yes", "no", None, "yes"])) is Task.BINARY


def test_free_text_target_is_refused(flights):
    with pytest.raises(DataError, match=r"distinct text values.*identifier or free text"):
        detect_task(flights["tailnum"])


def test_absent_target_suggests_the_closest_name(flights):
    with pytest.raises(DataError, match=r"'dlayed' is not a column.*did you mean 'delayed'"):
        check_target(flights, "dlayed")


def test_absent_target_lists_short_column_lists(flights):
    with pytest.raises(DataError, match=r"columns: year, month, day.*delayed"):
        check_target(flights, "price")


def test_target_with_no_values(flights_small):
    df = flights_small.assign(delayed=np.nan)
    with pytest.raises(DataError, match=r"'delayed' has no values: all 2000 rows are missing"):
        check_target(df, "delayed")


def test_rows_without_target_are_dropped_and_counted(flights_small):
    df = flights_small.astype({"delayed": "float64"})
    df.loc[[3, 10, 11], "delayed"] = np.nan
    kept, n = drop_missing_target(df, "delayed")
    assert n == 3 and len(kept) == 1997
    assert kept.index.equals(pd.RangeIndex(1997))
    assert drop_missing_target(flights_small, "delayed")[1] == 0


def test_single_class_is_refused(flights_small):
    on_time = flights_small[flights_small["delayed"] == 0]["delayed"]
    with pytest.raises(DataError, match=r"needs at least two classes.*has 1 \(0\)"):
        check_target_for_task(on_time, Task.BINARY)


def test_rare_class_is_named(flights):
    y = flights["carrier"].iloc[:3000]
    rare = y.value_counts()
    rare = rare[rare < 3]
    assert len(rare) > 0
    with pytest.raises(DataError, match=f"'{rare.index[0]}' \\({rare.iloc[0]} rows?\\).*"
                       "remove those rows or merge"):
        check_target_for_task(y, Task.MULTICLASS)


def test_regression_needs_numbers(flights):
    with pytest.raises(DataError, match=r"regression needs a numeric target.*--task"):
        check_target_for_task(flights["carrier"], Task.REGRESSION)


def test_regression_needs_variation(flights):
    with pytest.raises(DataError, match=r"at least two distinct target values"):
        check_target_for_task(flights["year"], Task.REGRESSION)


def test_binary_with_many_classes_is_refused(flights):
    with pytest.raises(DataError, match=r"exactly two classes.*--task multiclass"):
        check_target_for_task(flights["origin"], Task.BINARY)
