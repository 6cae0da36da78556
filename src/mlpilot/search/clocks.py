"""Features that count time, on time-ordered data: found before the search, kept or dropped
by the validation rows.

On a time-ordered table (a time column, a holdout whose validation rows come after the training
rows) every row to predict lies after the training period. A feature that rises or falls with
time, a *clock* (a day-of-year column in one year's data, the month of a datetime over Jan–Dec,
a running counter), then takes values the training rows never held: a tree sends every new row
to the leaf of the last training days, so a split on a clock only tells training periods apart
and the model extrapolates the last period's level. Some clocks still carry what the next rows
need (bikeshare's month: the autumn's fall in riders), others only hurt (flights' day of year
and month: the first LightGBM of a 60 s search scored a ROC AUC of 0.6913 on the validation
rows with them and 0.6922 without, and the search's model 0.616 and 0.628 on the benchmark's
later test rows). The
validation rows come after the training rows just as the rows to predict do, so they tell
which: the search fits its first configuration once more without the clocks and keeps them out
of every later trial when that scores better (:func:`mlpilot.search.study.run_search`).

A calendar part of the time column whose cycle the training rows repeat only a few times (fewer
than :data:`MIN_CYCLES`: the day of the month over half a year of rows) is a *short cycle*: each
of its values was seen in a handful of periods, so on a trend a tree reads it as the time within
each cycle. bikeshare's six months of training rows: 50.39 / 50.96 / 50.91 RMSE at 60 s (seeds
0 / 1 / 2) on the benchmark's later rows without the day of the month, 52.37 / 50.08 / 53.04
with it. Whether to leave the short cycles out is the validation rows' call too: one more fit of
the first configuration, after the clocks' (:func:`find_short_cycles`).

A clock is a numeric feature (a column, or a datetime part) that takes values beyond its range
over the training rows on at least :data:`MIN_BEYOND` of the validation rows (where it is
present): what every later row does with it too. A categorical feature is one when that share
of its validation rows more than of its training rows hold no level the training rows know (a
calendar label: bikeshare's month names, each new month a level no tree has seen, coded as
missing; the shares count every missing code, a missing value as well as an unseen level; a
column of more than ``TREE_MAX_LEVELS`` levels codes unseen ones as its "other" level, and is
never one). The time column itself is not one: its moment as a number is left out already
(``models/features.py``), and a whole-number period (a year) stays the period it is.

Example:
    >>> import numpy as np
    >>> day_of_year = np.arange(1.0, 201.0)[:, None]
    >>> hour = (np.arange(200.0) % 24)[:, None]
    >>> train, valid = np.hstack([day_of_year, hour])[:150], np.hstack([day_of_year, hour])[150:]
    >>> find_clocks(train, valid, ["t__dayofyear", "t__hour"], ())
    ['t__dayofyear']
    >>> month = np.r_[np.repeat([0.0, 1.0], 75), [1.0] * 10, [np.nan] * 40][:, None]
    >>> find_clocks(month[:150], month[150:], ["month_name"], [0])
    ['month_name']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: the share of the validation rows beyond the training range that makes a feature a clock:
#: most of them (a month whose validation window starts inside the training rows' last month
#: is beyond on the rest: 54% on flights, 53% on bikeshare)
MIN_BEYOND = 0.5
#: where a trial's parameters name the features it was fitted without (a sorted list)
DROP_KEY = "_dropped_features"
#: which checks of the features a search makes on time-ordered rows: 1 the numeric clocks, 2
#: categorical ones too, 3 the short cycles after them (a manifest records the number, and a
#: search from scratch reproducing a run repeats that run's checks)
FEATURE_CHECKS = 3
#: the calendar parts of a time column that cycle within a year, and their cycles in seconds
#: (a month: a twelfth of a common year, so a year of rows repeats the day of the month 12 times)
CYCLES = {"day": 365 / 12 * 86_400, "dayofweek": 7 * 86_400, "hour": 86_400, "minute": 3_600}
#: a part whose cycle the training rows' span repeats fewer times than this is a short cycle
MIN_CYCLES = 12


def find_short_cycles(span_seconds: float, names: Sequence[str], time_column: str) -> list[str]:
    """The calendar parts of ``time_column`` among the features ``names`` whose cycle the
    training rows' time span (``span_seconds``) repeats fewer than :data:`MIN_CYCLES` times.

    Example:
        >>> half_a_year = 182 * 86_400.0
        >>> find_short_cycles(half_a_year, ["t__day", "t__dayofweek", "t__hour", "x"], "t")
        ['t__day']
    """
    return sorted(f"{time_column}__{part}" for part, cycle in CYCLES.items()
                  if f"{time_column}__{part}" in names and span_seconds < MIN_CYCLES * cycle)


def find_clocks(train: np.ndarray, valid: np.ndarray, names: Sequence[str],
                categorical: Sequence[int], time_column: str | None = None, *,
                labels: bool = True) -> list[str]:
    """The clocks among the columns ``names`` of tree-mode feature matrices of the training
    and (later) validation rows (``categorical``: the indices of category codes, whose
    levels unseen in training are NaN; ``labels=False``: categorical codes are never clocks,
    the rule of runs recorded before :data:`FEATURE_CHECKS` 2); ``time_column`` itself
    excluded."""
    found = []
    for i, name in enumerate(names):
        if name == time_column:
            continue
        seen, later = train[:, i], valid[:, i]
        if i in categorical:
            if labels and np.isnan(later).mean() - np.isnan(seen).mean() >= MIN_BEYOND:
                found.append(name)
            continue
        seen, later = seen[~np.isnan(seen)], later[~np.isnan(later)]
        if seen.size == 0 or later.size == 0:
            continue
        beyond = (later > seen.max()) | (later < seen.min())
        if beyond.mean() >= MIN_BEYOND:
            found.append(name)
    return sorted(found)
