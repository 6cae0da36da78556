"""Splits: reproducible, stratified by class, ordered by time, refused when too small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, DataError
from mlpilot.data.split import Split, make_split


def _partition(split: Split, n: int) -> None:
    parts = np.concatenate([split.train, split.valid, split.test])
    assert np.array_equal(np.sort(parts), np.arange(n))
    for part in (split.train, split.valid, split.test):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)


def test_stratified_split_keeps_the_class_balance(flights):
    split = make_split(flights, target="delayed", task=Task.BINARY, seed=7)
    assert split.method == "stratified"
    _partition(split, len(flights))
    assert split.to_dict()["counts"] == {"train": 35_000, "valid": 7_500, "test": 7_500}
    overall = flights["delayed"].mean()
    for part in (split.train, split.valid, split.test):
        assert abs(flights["delayed"].iloc[part].mean() - overall) < 0.001


def test_same_inputs_same_split(flights_small):
    a = make_split(flights_small, target="delayed", task=Task.BINARY, seed=3)
    b = make_split(flights_small.copy(), target="delayed", task=Task.BINARY, seed=3)
    assert a == b and a.hash == b.hash
    c = make_split(flights_small, target="delayed", task=Task.BINARY, seed=4)
    assert c.hash != a.hash


def test_time_ordered_split_tests_on_the_latest_rows(flights):
    shuffled = flights.sample(frac=1.0, random_state=0).reset_index(drop=True)
    split = make_split(shuffled, target="delayed", task=Task.BINARY, seed=0,
                       time_column="time_hour")
    assert split.method == "time-ordered"
    _partition(split, len(shuffled))
    t = shuffled["time_hour"]
    assert t.iloc[split.train].max() < t.iloc[split.valid].min()
    assert t.iloc[split.valid].max() < t.iloc[split.test].min()
    assert abs(split.test.size - 7_500) < 100


def test_regression_split_is_shuffled(flights_small):
    split = make_split(flights_small, target="distance", task=Task.REGRESSION, seed=1)
    assert split.method == "random"
    _partition(split, len(flights_small))
    assert split.test.size == 300 and split.valid.size == 300
    assert split.test.max() > 1000  # drawn from the whole table, not its tail


def test_assignment_and_hash(flights_small):
    split = make_split(flights_small, target="delayed", task=Task.BINARY, seed=0)
    assignment = split.assignment()
    assert assignment.dtype == np.int8
    assert np.array_equal(np.flatnonzero(assignment == 2), split.test)
    assert Split.from_assignment(assignment, split.method) == split
    info = split.to_dict()
    assert info["hash"] == split.hash and len(info["hash"]) == 64
    assert "train" not in info  # counts only, not the arrays


def test_too_few_rows(flights_small):
    with pytest.raises(DataError, match=r"too few rows \(3\).*at least 4 rows"):
        make_split(flights_small.iloc[:3], target="distance", task=Task.REGRESSION, seed=0)


def test_class_too_small_to_stratify(flights_small):
    df = flights_small.iloc[:40].copy()
    df["delayed"] = 0
    df.loc[0, "delayed"] = 1
    with pytest.raises(DataError, match=r"every part holds every class"):
        make_split(df, target="delayed", task=Task.BINARY, seed=0)


def test_fractions_are_checked(flights_small):
    with pytest.raises(ConfigError, match=r"leave no training rows"):
        make_split(flights_small, target="delayed", task=Task.BINARY, seed=0,
                   valid_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match=r"test_fraction must be between 0 and 1"):
        make_split(flights_small, target="delayed", task=Task.BINARY, seed=0, test_fraction=0)


def test_missing_target_values_are_refused(flights_small):
    df = flights_small.astype({"delayed": "float64"})
    df.loc[5, "delayed"] = np.nan
    with pytest.raises(DataError, match=r"1 missing values.*drop_missing_target"):
        make_split(df, target="delayed", task=Task.BINARY, seed=0)


def test_missing_timestamps_are_refused(flights_small):
    df = flights_small.copy()
    df.loc[5, "time_hour"] = pd.NaT
    with pytest.raises(DataError, match=r"'time_hour' has 1 missing values"):
        make_split(df, target="delayed", task=Task.BINARY, seed=0, time_column="time_hour")


def test_an_integer_period_orders_the_split(flights):
    """A whole-number period (here the month) orders the rows like timestamps; a month never
    straddles train and validation."""
    shuffled = flights.sample(frac=1.0, random_state=0).reset_index(drop=True)
    split = make_split(shuffled, target="delayed", task=Task.BINARY, seed=0, time_column="month")
    assert split.method == "time-ordered"
    _partition(split, len(shuffled))
    month = shuffled["month"]
    assert set(month.iloc[split.train]) == {1, 2}  # the 70% cut moved to the end of February
    assert month.iloc[split.train].max() < month.iloc[split.valid].min()
    assert month.iloc[split.valid].max() <= month.iloc[split.test].min()
    years = pd.DataFrame({"year": np.repeat(np.arange(2015, 2025), 30), "y": [0, 1] * 150})
    split = make_split(years.iloc[::-1].reset_index(drop=True), target="y", task=Task.BINARY,
                       seed=0, time_column="year")
    flipped = years["year"].iloc[::-1].reset_index(drop=True)
    assert (sorted(set(flipped.iloc[split.train])), sorted(set(flipped.iloc[split.valid])),
            sorted(set(flipped.iloc[split.test]))) == (list(range(2015, 2022)), [2022],
                                                       [2023, 2024])


def test_a_period_column_without_values_or_of_fractions_is_refused(flights_small):
    df = flights_small.assign(month=flights_small["month"].astype("Int64"))
    df.loc[3, "month"] = pd.NA
    with pytest.raises(DataError, match=r"'month' has 1 missing values"):
        make_split(df, target="delayed", task=Task.BINARY, seed=0, time_column="month")
    df = flights_small.assign(hours=flights_small["hour"] + 0.5)
    with pytest.raises(DataError, match=r"'hours' does not hold dates, times or whole-number"):
        make_split(df, target="delayed", task=Task.BINARY, seed=0, time_column="hours")


def _years(counts: dict[int, int]) -> pd.DataFrame:
    year = np.repeat(list(counts), list(counts.values()))
    return pd.DataFrame({"year": year, "y": np.arange(year.size) % 2})


def test_a_period_straddles_parts_rather_than_leave_a_sliver():
    """Whole years would leave the test part 10 of the 180 rows it asks for (the few rows of
    a year that has begun): the cut stays inside 2017 instead, and validation still follows
    training. The recorded rule of earlier runs (``period_share=0``) still gives the sliver."""
    df = _years({2015: 400, 2016: 400, 2017: 390, 2018: 10})
    split = make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year")
    assert (split.train.size, split.valid.size, split.test.size) == (800, 180, 220)
    year = df["year"]
    assert set(year.iloc[split.train]) == {2015, 2016}
    assert set(year.iloc[split.valid]) == {2017} and set(year.iloc[split.test]) == {2017, 2018}
    old = make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year",
                     period_share=0.0)
    assert (old.train.size, old.valid.size, old.test.size) == (800, 390, 10)
    assert old.hash != split.hash


def test_the_first_cut_leaves_the_test_part_its_share_too():
    """Whole years at the first cut (train 2015-2016) would push the second cut into 2017,
    the last year, leaving test 10 of its 150 rows; the first cut goes to 2015's end instead,
    and every part keeps at least half its rows."""
    df = _years({2015: 400, 2016: 440, 2017: 160})
    split = make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year")
    assert (split.train.size, split.valid.size, split.test.size) == (400, 440, 160)
    old = make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year",
                     period_share=0.0)
    assert (old.train.size, old.valid.size, old.test.size) == (840, 150, 10)
    with pytest.raises(ConfigError, match="period_share must be between 0 and 1"):
        make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year",
                   period_share=1.5)


def test_whole_periods_are_kept_when_no_part_shrinks_below_half():
    df = _years({2015: 300, 2016: 300, 2017: 150, 2018: 100, 2019: 150})
    split = make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year")
    year = df["year"]
    assert sorted(set(year.iloc[split.train])) == [2015, 2016, 2017]
    assert set(year.iloc[split.valid]) == {2018} and set(year.iloc[split.test]) == {2019}
    assert split == make_split(df, target="y", task=Task.BINARY, seed=0, time_column="year",
                               period_share=0.0)


def test_the_recorded_rule_never_leaves_the_test_part_empty():
    """Under the recorded rule of earlier runs (``period_share=0``) a first cut moved to the
    end of its period could leave fewer rows than the validation asks for, and the test part
    none (train 25, validation 4, test 0 before): the test part keeps the latest row."""
    df = _years({2015: 4, 2016: 5, 2017: 7, 2018: 9, 2019: 4})
    split = make_split(df, target="y", task=Task.REGRESSION, seed=0, time_column="year",
                       period_share=0.0)
    assert (split.train.size, split.valid.size, split.test.size) == (25, 3, 1)
    year = df["year"]
    assert set(year.iloc[split.train]) == {2015, 2016, 2017, 2018}
    assert set(year.iloc[split.valid]) == set(year.iloc[split.test]) == {2019}
    assert split.test[0] == len(df) - 1  # the latest row
