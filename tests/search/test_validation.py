"""How a search validates: k-fold for small tables, more rows at longer budgets, a holdout
otherwise and always for time-ordered tables."""

from __future__ import annotations

import pytest

from mlpilot.search.validation import choose_strategy


@pytest.mark.parametrize(("rows", "seconds", "kind"), [
    (2_000, 10, "cv"),  # small enough at any budget
    (5_000, 10, "holdout"),  # too short a budget for k fits per trial
    (12_000, 60, "cv"),
    (12_001, 60, "holdout"),
    (34_000, 60, "holdout"),
    (34_000, 300, "cv"),  # 200 rows per second of budget: 60,000 at 300 s
    (60_000, 300, "cv"),
    (60_001, 300, "holdout"),
    (100_000, 3_600, "cv"),
    (100_001, 3_600, "holdout"),  # the cap: k cached copies of the features
])
def test_the_rows_k_fold_takes_grow_with_the_budget(rows, seconds, kind):
    assert choose_strategy(rows, seconds, allow_cv=True).kind == kind


def test_time_order_and_a_request_win():
    assert choose_strategy(500, 300, allow_cv=False).kind == "holdout"
    assert choose_strategy(500, 300, allow_cv=True, requested="holdout").kind == "holdout"
    assert choose_strategy(500_000, 60, allow_cv=True, requested="cv").folds == 5
