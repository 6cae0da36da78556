"""Drift tests: one contract every test passes, the choice by kind and size, table verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.data.drift import TESTS, choose_test, drift_column, drift_table


@pytest.fixture
def distances(flights_frame) -> np.ndarray:
    return flights_frame["distance"].to_numpy()


@pytest.mark.parametrize("name", sorted(TESTS))
def test_every_test_calls_identical_samples_undrifted_and_a_big_shift_drifted(name):
    test = TESTS[name]
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 20, 800) if name in ("chi_square", "jensen_shannon") \
        else rng.normal(size=800)
    assert not test.drifted(test.score(ref, ref.copy()))
    shifted = np.where(ref < 10, 0, ref) if name in ("chi_square", "jensen_shannon") \
        else ref + 2.0
    assert test.drifted(test.score(ref, shifted))


def test_choice_follows_kind_and_reference_size():
    assert choose_test("numeric", 500, 100).name == "ks"
    assert choose_test("numeric", 5000, 100).name == "wasserstein"
    assert choose_test("categorical", 500, 10).name == "chi_square"
    assert choose_test("categorical", 5000, 10).name == "jensen_shannon"
    assert choose_test("integer", 5000, 3).name == "jensen_shannon"  # few values: categories


def test_real_column_resampled_does_not_drift_but_shifted_does(distances):
    rng = np.random.default_rng(0)
    ref, cur = rng.choice(distances, 10_000), rng.choice(distances, 10_000)
    assert not drift_column(ref, cur, kind="numeric").drifted
    moved = drift_column(ref, cur + 0.3 * distances.std(), kind="numeric")
    assert moved.drifted and moved.test == "wasserstein"


def test_rare_categories_are_pooled_so_tail_numbers_do_not_drift(flights_frame):
    tails = flights_frame["tailnum"].to_numpy()
    rng = np.random.default_rng(0)
    assert not drift_column(tails, rng.choice(tails, 3000), kind="categorical").drifted


def test_table_drifts_when_half_the_columns_do(flights_slice):
    ref = flights_slice.iloc[:2500]
    cur = flights_slice.iloc[2500:].copy()
    kinds = {"distance": "numeric", "hour": "numeric", "origin": "categorical"}
    assert not drift_table(ref, cur, kinds).drifted
    cur["distance"] = cur["distance"] * 2
    cur["hour"] = cur["hour"] + 5
    result = drift_table(ref, cur, kinds)
    assert result.drifted and set(result.drifted_columns) == {"distance", "hour"}
    assert result.to_dict()["drift_detected"] is True


def test_missing_values_and_empty_samples_do_not_crash():
    assert not drift_column(pd.Series([np.nan] * 10), pd.Series([1.0, 2.0]),
                            kind="numeric").drifted
