"""Budget proposals grow with the table and stay within what the machine has."""

from __future__ import annotations

from mlpilot.search.proposal import propose_budget


def test_about_a_minute_for_ten_thousand_rows_by_ten_columns():
    spec = propose_budget(10_000, 10, 1_000_000, cpus_available=4, memory_available_mb=8_000)
    assert spec.time_seconds == 60 and spec.cpus == 4


def test_time_grows_with_cells_and_is_clamped():
    times = [propose_budget(rows, 20, 10**6, cpus_available=2,
                            memory_available_mb=4000).time_seconds
             for rows in (10, 10_000, 100_000, 1_000_000, 10**9)]
    assert times == sorted(times)
    assert times[0] == 30 and times[-1] == 3600


def test_memory_is_capped_at_what_is_available():
    small = propose_budget(1000, 5, 10**5, cpus_available=1, memory_available_mb=4000)
    huge = propose_budget(10**7, 50, 4 * 10**9, cpus_available=1, memory_available_mb=4000)
    assert 512 <= small.memory_mb < 1024
    assert huge.memory_mb == 4000


def test_same_inputs_same_proposal():
    args = (123_456, 17, 9_876_543)
    assert propose_budget(*args, cpus_available=3, memory_available_mb=5000) == propose_budget(
        *args, cpus_available=3, memory_available_mb=5000)
