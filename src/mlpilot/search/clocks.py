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

A clock is a numeric feature (a column, or a datetime part) that takes values beyond its range
over the training rows on at least :data:`MIN_BEYOND` of the validation rows (where it is
present): what every later row does with it too. A categorical feature is one when that share
of its validation rows more than of its training rows hold no level the training rows know (a
calendar label: bikeshare's month names, each new month a level no tree has seen, coded as
missing). The time column itself is not one: its moment as a number is left out already
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


def find_clocks(train: np.ndarray, valid: np.ndarray, names: Sequence[str],
                categorical: Sequence[int], time_column: str | None = None) -> list[str]:
    """The clocks among the columns ``names`` of tree-mode feature matrices of the training
    and (later) validation rows (``categorical``: the indices of category codes, whose
    levels unseen in training are NaN); ``time_column`` itself excluded."""
    found = []
    for i, name in enumerate(names):
        if name == time_column:
            continue
        seen, later = train[:, i], valid[:, i]
        if i in categorical:
            if np.isnan(later).mean() - np.isnan(seen).mean() >= MIN_BEYOND:
                found.append(name)
            continue
        seen, later = seen[~np.isnan(seen)], later[~np.isnan(later)]
        if seen.size == 0 or later.size == 0:
            continue
        beyond = (later > seen.max()) | (later < seen.min())
        if beyond.mean() >= MIN_BEYOND:
            found.append(name)
    return sorted(found)
