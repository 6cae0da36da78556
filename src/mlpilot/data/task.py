"""The target column: check it exists, detect the task it implies, and check it suits the task.

Example:
    >>> import pandas as pd
    >>> detect_task(pd.Series([0, 1, 1, 0]))
    <Task.BINARY: 'binary'>
    >>> detect_task(pd.Series(["bus", "car", "train", "bus"]))
    <Task.MULTICLASS: 'multiclass'>
    >>> detect_task(pd.Series([12.5, 3.1, 8.0, 4.4]))
    <Task.REGRESSION: 'regression'>
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpilot.core.config import Task
from mlpilot.core.errors import DataError
from mlpilot.data import _values as values
from mlpilot.data.schema import unknown_column_error

MIN_ROWS_PER_CLASS = 3
MAX_TEXT_CLASSES = 200
MAX_NUMERIC_CLASSES = 20
NUMERIC_CLASS_SHARE = 0.05


def check_target(df: pd.DataFrame, target: str) -> None:
    """Raise DataError if ``target`` is not a column of ``df`` or holds no values at all."""
    columns = [str(c) for c in df.columns]
    if target not in columns:
        raise unknown_column_error("target column", target, columns)
    if df[target].notna().sum() == 0:
        raise DataError(
            f"target column {target!r} has no values: all {len(df)} rows are missing",
            expected="a target value on the rows to learn from",
            found=f"{len(df)} missing values",
            fix="check the export of the target column, or choose another target",
        )


def drop_missing_target(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """Drop the rows whose target is missing; returns the rows kept (re-indexed) and the count.

    Example:
        >>> import pandas as pd
        >>> kept, n = drop_missing_target(pd.DataFrame({"y": [1, None, 0]}), "y")
        >>> len(kept), n
        (2, 1)
    """
    check_target(df, target)
    present = df[target].notna().to_numpy(dtype=bool)
    n_dropped = int((~present).sum())
    if n_dropped == 0:
        return df, 0
    return df.loc[present].reset_index(drop=True), n_dropped


def _is_integer_valued(y: pd.Series) -> bool:
    if values.is_integer(y):
        return True
    arr = y.to_numpy(dtype="float64", na_value=np.nan)
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))


def detect_task(y: pd.Series) -> Task:
    """The task a target implies.

    Booleans or two values: binary. Text with 3 to 200 values: multiclass. Whole numbers with
    3 to 20 values that are at most 5% of the rows: multiclass. Other numbers: regression.

    Raises:
        DataError: the target has no values, or is text with too many distinct values.
    """
    present = y.dropna()
    if present.empty:
        raise DataError("the target has no values", expected="at least two distinct values",
                        found="all values missing", fix="choose a target column with values")
    n_distinct = int(present.nunique())
    if values.is_boolean(present) or n_distinct <= 2:
        return Task.BINARY
    if not values.is_number(present):
        if n_distinct <= MAX_TEXT_CLASSES:
            return Task.MULTICLASS
        raise DataError(
            f"the target {y.name!r} has {n_distinct} distinct text values",
            expected=f"a class label with at most {MAX_TEXT_CLASSES} values, or numbers",
            found=f"{n_distinct} distinct values in {len(present)} rows (an identifier or "
            "free text?)",
            fix="choose another target, or pass --task explicitly after recoding it",
        )
    if (_is_integer_valued(present) and n_distinct <= MAX_NUMERIC_CLASSES
            and n_distinct <= NUMERIC_CLASS_SHARE * len(present)):
        return Task.MULTICLASS
    return Task.REGRESSION


def check_target_for_task(y: pd.Series, task: Task) -> None:
    """Raise DataError if the target cannot be learned as ``task``.

    Missing values are ignored here (see :func:`drop_missing_target`).
    """
    task = Task(task)
    present = y.dropna()
    name = y.name if y.name is not None else "target"
    if task is Task.REGRESSION:
        if not values.is_number(present):
            example = present.iloc[0] if len(present) else None
            raise DataError(
                f"regression needs a numeric target, but {name!r} holds {y.dtype} values",
                expected="numbers",
                found=f"e.g. {example!r}",
                fix="pass --task binary or --task multiclass, or convert the column to numbers",
            )
        if present.nunique() < 2:
            raise DataError(
                f"regression needs at least two distinct target values; {name!r} has "
                f"{present.nunique()}",
                expected="a target that varies", found=f"{len(present)} rows, one value",
                fix="check the target column",
            )
        return
    counts = present.value_counts()
    if len(counts) < 2:
        only = ", ".join(repr(v) for v in counts.index.tolist()) or "none"
        raise DataError(
            f"classification needs at least two classes; {name!r} has {len(counts)} ({only})",
            expected="rows of at least two classes",
            found=f"{len(present)} rows with target {only}",
            fix="add rows of the other class, or choose another target",
        )
    if task is Task.BINARY and len(counts) > 2:
        raise DataError(
            f"binary classification needs exactly two classes; {name!r} has {len(counts)}",
            expected="two classes", found=", ".join(repr(v) for v in counts.index[:10]),
            fix="pass --task multiclass, or recode the target into two classes",
        )
    rare = counts[counts < MIN_ROWS_PER_CLASS]
    if len(rare):
        listed = ", ".join(f"{k!r} ({v} rows)" for k, v in rare.items())
        raise DataError(
            f"class{'es' if len(rare) > 1 else ''} {listed} of {name!r} "
            f"{'have' if len(rare) > 1 else 'has'} too few rows to split into train, "
            "validation and test",
            expected=f"at least {MIN_ROWS_PER_CLASS} rows per class",
            found=listed,
            fix="remove those rows or merge the class into a similar one",
        )
