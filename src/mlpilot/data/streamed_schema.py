"""What schema inference needs from a table read in chunks: a row sample and whole-column facts.

:func:`mlpilot.data.schema.infer_schema` looks at values (is this text a date? long free
text? one value per row?) and at the domain of each column (missing values, range,
categories). A table read in chunks keeps :class:`RowSample`, a deterministic systematic
sample of at most ``limit`` rows (rows at positions divisible by a power-of-two stride, the
stride doubled whenever the sample outgrows the limit), for the values; the domain comes from
the whole table: the streamed profile's counts and extremes, and :class:`DistinctValues`,
each text column's distinct values while there are at most ``MAX_CATEGORIES`` of them.
:func:`column_facts` puts the two together. A table of at most ``limit`` rows is its own
sample (:attr:`RowSample.complete`), and its schema is inferred from the whole table.

Example:
    >>> import pandas as pd
    >>> sample = RowSample(limit=4)
    >>> for start in (0, 3, 6):
    ...     sample.add(pd.DataFrame({"n": range(start, start + 3)}))
    >>> sample.complete, sample.stride, sample.frame({"n": "int64"})["n"].tolist()
    (False, 4, [0, 4, 8])
    >>> seen = DistinctValues(["c"])
    >>> seen.add(pd.DataFrame({"c": ["b", "a", None, "b"]}))
    >>> seen.categories("c")
    ('a', 'b')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from mlpilot.data import _values as values
from mlpilot.data.schema import MAX_CATEGORIES, ColumnFacts
from mlpilot.data.spill import as_dtypes


class RowSample:
    """Rows at positions divisible by a power-of-two stride; at most ``limit`` rows kept."""

    def __init__(self, limit: int) -> None:
        self.limit, self.stride, self.rows, self.size = limit, 1, 0, 0
        self._parts: list[pd.DataFrame] = []

    @property
    def complete(self) -> bool:
        """Whether the sample holds every row seen."""
        return self.stride == 1

    def add(self, chunk: pd.DataFrame) -> None:
        """Keep the chunk's rows that fall on the stride (copies: the chunk can be let go)."""
        start = self.rows
        self.rows += len(chunk)
        first = (-start) % self.stride
        part = chunk.iloc[first::self.stride].copy()
        part.index = pd.RangeIndex(start + first, self.rows, self.stride)
        self._parts.append(part)
        self.size += len(part)
        while self.size > self.limit:
            self.stride *= 2
            self._parts = [p[p.index % self.stride == 0] for p in self._parts]
            self.size = sum(len(p) for p in self._parts)

    def frame(self, dtypes: Mapping[str, Any]) -> pd.DataFrame:
        """The sampled rows in order, each column cast to ``dtypes`` (the whole table's)."""
        parts = [as_dtypes(part, dtypes) for part in self._parts]
        if not parts:
            return pd.DataFrame({name: pd.Series([], dtype=d) for name, d in dtypes.items()})
        frame = pd.concat(parts) if len(parts) > 1 else parts[0]
        return frame.reset_index(drop=True)


class DistinctValues:
    """The distinct present values of some columns, each while there are at most
    ``MAX_CATEGORIES`` of them."""

    def __init__(self, columns: Iterable[str]) -> None:
        self._values: dict[str, set[Any] | None] = {name: set() for name in columns}

    @classmethod
    def of_text_columns(cls, dtypes: Mapping[str, Any]) -> DistinctValues:
        """Following the columns of text (string, object or categorical) dtypes: the only
        ones a schema gives categories."""
        return cls(name for name, dtype in dtypes.items()
                   if values.is_textual(pd.Series([], dtype=dtype)))

    def add(self, frame: pd.DataFrame) -> None:
        for name, seen in self._values.items():
            if seen is None:
                continue
            seen.update(frame[name].dropna().unique().tolist())
            if len(seen) > MAX_CATEGORIES:
                self._values[name] = None

    def categories(self, name: str) -> tuple[str, ...] | None:
        """The column's values as sorted text, as the schema records categories (None: more
        than ``MAX_CATEGORIES`` values, or a column not followed)."""
        seen = self._values.get(name)
        if seen is None:
            return None
        return tuple(sorted(set(pd.Series(list(seen), dtype="object").astype("str").tolist())))


def column_facts(profile: Mapping[str, Any],
                 distinct: DistinctValues) -> dict[str, ColumnFacts]:
    """Each column's :class:`ColumnFacts` from a streamed profile (``TableProfiler``) and the
    distinct values of its text columns."""
    rows = int(profile["n_rows"])
    out = {}
    for name, column in profile["columns"].items():
        numeric = column["kind"] == "numeric"
        out[name] = ColumnFacts(
            rows=rows, missing=int(column["missing"]), n_unique=column["n_unique"],
            minimum=column["min"] if numeric else None,
            maximum=column["max"] if numeric else None,
            categories=distinct.categories(name))
    return out
