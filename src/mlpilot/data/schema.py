"""The schema of a training table: one typed column spec per column, plus the roles of columns.

Example:
    >>> s = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", False),
    ...                     ColumnSchema("city", ColumnKind.CATEGORICAL, "str", True,
    ...                                  categories=("Boston", "Lyon")),
    ...                     ColumnSchema("churn", ColumnKind.BOOLEAN, "bool", False)),
    ...            target="churn")
    >>> s.feature_columns
    ('age', 'city')
    >>> Schema.from_dict(s.to_dict()) == s
    True

Schemas are usually inferred from the training table, and prediction input is checked against
them:

    >>> import pandas as pd
    >>> train = pd.DataFrame({"age": [31, 45, 27], "city": ["Boston", "Lyon", None],
    ...                       "churn": [True, False, True]})
    >>> schema = infer_schema(train, target="churn")
    >>> [(c.name, str(c.kind)) for c in schema.columns]
    [('age', 'integer'), ('city', 'categorical'), ('churn', 'boolean')]
    >>> validate_prediction_input(pd.DataFrame({"city": ["Paris"], "age": ["52"]}), schema)
       age   city
    0   52  Paris
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import DataError, SchemaError
from mlpilot.core.hashing import hash_json
from mlpilot.data import _values as values

MAX_CATEGORIES = 1000
MIN_ROWS_FOR_IDENTIFIER = 50
TEXT_MEAN_LENGTH = 50


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"


#: the kinds that can order rows in time: timestamps, or whole-number periods (a year, a week
#: number, a month index) whose later values come later
TIME_KINDS = (ColumnKind.DATETIME, ColumnKind.INTEGER)


@dataclass(frozen=True)
class ColumnSchema:
    """One column: its kind, the pandas dtype it was read with, nullability and observed domain."""

    name: str
    kind: ColumnKind
    dtype: str
    nullable: bool
    categories: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    datetime_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "kind": str(self.kind),
            "dtype": self.dtype,
            "nullable": self.nullable,
            "categories": list(self.categories) if self.categories is not None else None,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }
        if self.datetime_format is not None:  # only when set: older schema hashes stay valid
            out["datetime_format"] = self.datetime_format
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSchema:
        cats = data.get("categories")
        return cls(
            name=data["name"],
            kind=ColumnKind(data["kind"]),
            dtype=data["dtype"],
            nullable=bool(data["nullable"]),
            categories=tuple(cats) if cats is not None else None,
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            datetime_format=data.get("datetime_format"),
        )


@dataclass(frozen=True)
class Schema:
    """All columns of the training table in order, with the target, time and id roles."""

    columns: tuple[ColumnSchema, ...]
    target: str
    time_column: str | None = None
    id_columns: tuple[str, ...] = field(default_factory=tuple)
    ingestion_time_column: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Columns a model sees: all but the target, id columns and identifier-like columns."""
        skip = {self.target, *self.id_columns}
        return tuple(
            c.name for c in self.columns
            if c.name not in skip and c.kind is not ColumnKind.IDENTIFIER
        )

    @property
    def features(self) -> tuple[ColumnSchema, ...]:
        wanted = set(self.feature_columns)
        return tuple(c for c in self.columns if c.name in wanted)

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise SchemaError(f"column {name!r} is not in the schema",
                          found=", ".join(self.names), fix="use one of the schema's columns")

    def with_column(self, col: ColumnSchema) -> Schema:
        return replace(self, columns=tuple(col if c.name == col.name else c for c in self.columns))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target,
            "time_column": self.time_column,
            "id_columns": list(self.id_columns),
        }
        if self.ingestion_time_column is not None:  # only when declared (hash stability)
            out["ingestion_time_column"] = self.ingestion_time_column
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(
            columns=tuple(ColumnSchema.from_dict(c) for c in data["columns"]),
            target=data["target"],
            time_column=data.get("time_column"),
            id_columns=tuple(data.get("id_columns") or ()),
            ingestion_time_column=data.get("ingestion_time_column"),
        )

    @property
    def hash(self) -> str:
        return hash_json(self.to_dict())


# --- inference ----------------------------------------------------------------------------


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Column names that look like ``name`` (typos, case), best first."""
    cands = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def unknown_column_error(role: str, name: str, columns: Sequence[str]) -> DataError:
    """A DataError for a role (target, time column, ...) naming a column the table lacks."""
    close = closest_names(name, columns)
    shown = ", ".join(str(c) for c in columns[:30]) + (" ..." if len(columns) > 30 else "")
    fix = (f"did you mean {' or '.join(repr(c) for c in close)}? Pass that name"
           if close else "pass one of the table's column names")
    return DataError(f"{role} {name!r} is not a column of the table",
                     expected="a column of the table", found=f"columns: {shown}", fix=fix)


def _is_id_name(name: str) -> bool:
    lowered = name.lower()
    return lowered == "id" or lowered.endswith("_id")


@dataclass(frozen=True)
class ColumnFacts:
    """What the whole column holds, when :func:`infer_schema` is given a sample of the table.

    ``n_unique`` is None when the column had more distinct values than were counted (the
    sample then judges how distinct it is); ``categories`` is None when it has more than
    :data:`MAX_CATEGORIES` distinct values; ``minimum`` / ``maximum`` are the finite extremes
    of a numeric column.
    """

    rows: int
    missing: int
    n_unique: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None


def _bounds(series: pd.Series, facts: ColumnFacts | None) -> tuple[float | None, float | None]:
    if facts is not None:
        return facts.minimum, facts.maximum
    arr = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return None, None
    return float(finite.min()), float(finite.max())


def _categories(series: pd.Series, n_unique: int,
                facts: ColumnFacts | None) -> tuple[str, ...] | None:
    if facts is not None:
        return facts.categories
    if n_unique > MAX_CATEGORIES:
        return None
    distinct = pd.Series(series.dropna().unique()).astype("str")
    return tuple(sorted(set(distinct.tolist())))


def _distinct(series: pd.Series, facts: ColumnFacts | None) -> tuple[int, int]:
    """(distinct values, present values) of the column, or of the sample when the column had
    more distinct values than were counted."""
    if facts is not None and facts.n_unique is not None:
        return facts.n_unique, facts.rows - facts.missing
    return int(series.nunique()), int(series.notna().sum())


def _infer_column(series: pd.Series, name: str, *, is_target: bool, n_rows: int,
                  facts: ColumnFacts | None = None) -> ColumnSchema:
    dtype = str(series.dtype)
    nullable = bool(series.isna().any()) if facts is None else facts.missing > 0
    rows = n_rows if facts is None else facts.rows
    unique_per_row = rows >= MIN_ROWS_FOR_IDENTIFIER and not nullable
    if values.is_boolean(series):
        return ColumnSchema(name, ColumnKind.BOOLEAN, dtype, nullable)
    if values.is_datetime(series):
        return ColumnSchema(name, ColumnKind.DATETIME, dtype, nullable)
    if values.is_number(series):
        is_int = values.is_integer(series)
        if is_int and not is_target and _is_id_name(name) and unique_per_row:
            n_unique, n_present = _distinct(series, facts)
            if n_unique == n_present:
                return ColumnSchema(name, ColumnKind.IDENTIFIER, dtype, nullable)
        low, high = _bounds(series, facts)
        kind = ColumnKind.INTEGER if is_int else ColumnKind.NUMERIC
        return ColumnSchema(name, kind, dtype, nullable, minimum=low, maximum=high)
    if values.looks_like_dates(series):
        return ColumnSchema(name, ColumnKind.DATETIME, dtype, nullable,
                            datetime_format=values.guess_format(series))
    n_unique, n_present = _distinct(series, facts)
    if not is_target and n_present:
        text = series.dropna().astype("str")
        if text.str.len().mean() > TEXT_MEAN_LENGTH and n_unique > 0.5 * n_present:
            return ColumnSchema(name, ColumnKind.TEXT, dtype, nullable)
        if unique_per_row and n_unique == n_present:
            return ColumnSchema(name, ColumnKind.IDENTIFIER, dtype, nullable)
    return ColumnSchema(name, ColumnKind.CATEGORICAL, dtype, nullable,
                        categories=_categories(series, n_unique, facts))


def infer_schema(df: pd.DataFrame, *, target: str, time_column: str | None = None,
                 id_columns: Sequence[str] = (),
                 facts: Mapping[str, ColumnFacts] | None = None) -> Schema:
    """Infer each column's kind and domain from a training table.

    Args:
        df: the training table, or a sample of its rows (with ``facts``).
        target: the column to predict.
        time_column: the column that orders the rows in time (used for time-ordered splits):
            timestamps, or whole-number periods such as a year.
        id_columns: columns that identify rows; kept in the schema as identifiers, never used
            as features.
        facts: for a sample, what each whole column holds (:class:`ColumnFacts`): the
            nullability, range, categories and distinct counts come from them, the kinds from
            the sample's values and types (which must be the whole table's types).

    Raises:
        DataError: a named column is missing, or the time column does not hold dates.
    """
    columns = [str(c) for c in df.columns]
    for role, name in [("target column", target), ("time column", time_column),
                       *(("id column", c) for c in id_columns)]:
        if name is not None and name not in columns:
            raise unknown_column_error(role, name, columns)
    n_rows = len(df)
    specs = []
    for name in columns:
        spec = _infer_column(df[name], name, is_target=name == target, n_rows=n_rows,
                             facts=None if facts is None else facts[name])
        if name in id_columns and name != target:
            spec = replace(spec, kind=ColumnKind.IDENTIFIER, categories=None,
                           minimum=None, maximum=None)
        specs.append(spec)
    schema = Schema(columns=tuple(specs), target=target, time_column=time_column,
                    id_columns=tuple(id_columns))
    if time_column is not None and schema.column(time_column).kind not in TIME_KINDS:
        example = df[time_column].dropna()
        raise DataError(
            f"time column {time_column!r} does not hold dates, times or whole-number periods",
            expected="a datetime column, text like '2013-01-01 05:00:00', or integers that "
                     "count periods (a year such as 2017, a week number)",
            found=f"dtype {df[time_column].dtype}"
            + (f", e.g. {example.iloc[0]!r}" if len(example) else ", all values missing"),
            fix="pass a column of timestamps or of integer periods as the time column, or "
                "leave it out",
        )
    return schema


# --- prediction input ---------------------------------------------------------------------


def coerce_column(series: pd.Series, spec: ColumnSchema) -> tuple[pd.Series, pd.Series]:
    """``series`` read as the column's trained kind, and a mask of the values that could not be."""
    kind = spec.kind
    if kind is ColumnKind.NUMERIC:
        return values.coerce_numeric(series)
    if kind is ColumnKind.INTEGER:
        return values.coerce_numeric(series, integer=True, dtype=spec.dtype)
    if kind is ColumnKind.BOOLEAN:
        return values.coerce_boolean(series)
    if kind is ColumnKind.DATETIME:
        return values.coerce_datetime(series, spec.dtype)
    out, bad = values.coerce_text(series)
    if spec.dtype in ("str", "string"):
        out = out.astype(spec.dtype)
    return out, bad


_KIND_WORDS = {
    ColumnKind.NUMERIC: "numbers",
    ColumnKind.INTEGER: "whole numbers",
    ColumnKind.BOOLEAN: "booleans (true/false, 1/0)",
    ColumnKind.DATETIME: "dates or times",
}


def validate_prediction_input(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Check a frame sent for prediction and return its feature columns in training order.

    Values are coerced to the trained types: numbers from numeric strings, booleans from
    true/false/1/0, datetimes from date strings, categories as strings (unseen categories pass
    through; the model handles them). The target and unknown columns are dropped.

    Raises:
        SchemaError: the frame is empty, or feature columns are missing, or values cannot be
            read as their trained type. Every problem is listed at once.
    """
    features = schema.features
    if not isinstance(df, pd.DataFrame) or len(df) == 0 or df.shape[1] == 0:
        raise SchemaError(
            "the input has no rows to predict",
            expected=f"at least one row with the {len(features)} feature columns",
            found="an empty table" if isinstance(df, pd.DataFrame) else type(df).__name__,
            fix="send one or more rows",
        )
    present = {str(c) for c in df.columns}
    missing = [c.name for c in features if c.name not in present]
    frame = df.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    out: dict[str, pd.Series] = {}
    wrong: list[str] = []
    for spec in features:
        if spec.name in missing:
            continue
        series = frame[spec.name]
        if isinstance(series, pd.DataFrame):
            wrong.append(f"column {spec.name!r} appears more than once")
            continue
        coerced, bad = coerce_column(series, spec)
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
            example = series.iloc[position]
            example = example.item() if isinstance(example, np.generic) else example
            wrong.append(f"column {spec.name!r} expects {_KIND_WORDS[spec.kind]} but row "
                         f"{position} has {example!r} "
                         f"({int(bad.sum())} bad value{'s' if bad.sum() > 1 else ''})")
        out[spec.name] = coerced
    if missing or wrong:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(repr(m) for m in missing))
        problems.extend(wrong)
        shown = ", ".join(c.name for c in features[:20]) + (" ..." if len(features) > 20 else "")
        raise SchemaError(
            "the input does not match the training schema: " + "; ".join(problems),
            expected=f"the {len(features)} feature columns the model was trained on: {shown}",
            found=f"{df.shape[1]} columns: " + ", ".join(sorted(present)[:20])
            + (" ..." if len(present) > 20 else ""),
            fix="send every training column with values of the trained kind "
            "(see `mlpilot project show NAME`)",
        )
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), columns=list(schema.feature_columns))
