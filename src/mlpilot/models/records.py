"""The online fast path: JSON records straight into a FeaturePipeline's matrix, without pandas.

The reference is the pandas path, ``FeaturePipeline.transform(validate_prediction_input(
pd.DataFrame.from_records(records), schema))``; :class:`RecordTransformer` gives a bit-identical
float64 matrix for the values a request model (``server/schemas.py``) lets through:

- numeric: ``int`` (not ``bool``, |v| <= 2**53 so the float is exact either way), ``float``;
- integer: ``int`` (same bound);
- boolean: ``bool``;
- categorical and text: ``str`` (valid UTF-8);
- datetime: naive ``datetime.datetime`` (pydantic reads ISO 8601 strings into these);
- ``None`` (or a missing key is *not* accepted: see below) for a missing value of any kind.

Everything else (numeric strings, timezone-aware datetimes, a record without one of the feature
keys, huge integers, lone surrogates) is something the pandas path coerces or rejects with its
own rules, so :meth:`RecordTransformer.transform` raises :class:`NeedsFrame` and the caller
scores those records through the pandas path instead: the fast path never guesses.

The linear-mode fill / standardise / indicator arithmetic is the pipeline's own
(``FeaturePipeline.numbers_block``), applied to the same raw columns, so it cannot drift.

:class:`ArrowTransformer` is the batch counterpart: an Arrow table (a Parquet record batch) into
the same matrix with vectorised Arrow compute, for the column types whose pandas coercion is a
plain cast (integers and floats, booleans, strings, timezone-naive timestamps of at most
microsecond precision); any other column type raises :class:`NeedsFrame` and the caller uses
pandas for that chunk. Dictionary-encoded strings (what the batch reader asks Parquet for) are
looked up once per distinct value and the codes gathered by the indices; datetime parts come
from one pass of integer calendar arithmetic on the epoch counts; text features are the
pipeline's own pandas code on that one column (the record path computes character and word
counts in Python and hands any other text feature to the pipeline's code too).

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> from mlpilot.models.features import FeaturePipeline
    >>> schema = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", True),
    ...                          ColumnSchema("city", ColumnKind.CATEGORICAL, "str", True),
    ...                          ColumnSchema("y", ColumnKind.BOOLEAN, "bool", False)), target="y")
    >>> X = pd.DataFrame({"age": [30, None, 50, 40], "city": ["Lyon", "Oslo", "Lyon", None]})
    >>> fast = RecordTransformer(FeaturePipeline("tree").fit(X, schema), schema)
    >>> fast.transform([{"age": 1, "city": "Paris"}, {"age": None, "city": "Lyon"}]).tolist()
    [[1.0, nan], [nan, 0.0]]
    >>> try:
    ...     fast.transform([{"age": "1", "city": "Lyon"}])
    ... except NeedsFrame as exc:
    ...     print(exc)
    column 'age': str value (the pandas path decides)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlpilot.data.schema import ColumnKind, Schema, coerce_column
from mlpilot.models.features import FeaturePipeline

_NAN = float("nan")
_EXACT = 2 ** 53


class NeedsFrame(ValueError):
    """These records hold a value the fast path does not reproduce exactly: use pandas."""


def _only_lengths(step: dict[str, Any]) -> bool:
    """Whether a text step's raw outputs are just its characters and words (the record path
    computes those in Python; any other text feature goes through the pipeline's code)."""
    name = step["column"]
    known = {f"{name}__chars", f"{name}__words", f"{name}__missing"}
    return set(step["outputs"]) <= known


def _numbers(name: str, integer: bool) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        kind = type(value)
        if kind is int:
            if -_EXACT <= value <= _EXACT:
                return float(value)
        elif kind is float and not integer:
            return value
        elif value is None:
            return _NAN
        raise NeedsFrame(f"column {name!r}: {kind.__name__} value (the pandas path decides)")
    return convert


def _boolean(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if value is True:
            return 1.0
        if value is False:
            return 0.0
        if value is None:
            return _NAN
        raise NeedsFrame(f"column {name!r}: {type(value).__name__} value "
                         "(the pandas path decides)")
    return convert


def _string(name: str, value: Any) -> str | None:
    if type(value) is str:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise NeedsFrame(f"column {name!r}: a string that is not valid UTF-8") from None
        return value
    if value is None:
        return None
    raise NeedsFrame(f"column {name!r}: {type(value).__name__} value (the pandas path decides)")


def _moment(name: str, value: Any) -> _dt.datetime | None:
    if type(value) is _dt.datetime and value.tzinfo is None:
        return value
    if value is None:
        return None
    raise NeedsFrame(f"column {name!r}: {type(value).__name__} value with tzinfo "
                     f"{getattr(value, 'tzinfo', None)!r} (the pandas path decides)")


_EPOCH = _dt.datetime(1970, 1, 1)
_SECOND = _dt.timedelta(seconds=1)

_PARTS: dict[str, Callable[[_dt.datetime], float]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "dayofweek": lambda d: d.weekday(),
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "dayofyear": lambda d: d.timetuple().tm_yday,
    "days": lambda d: ((d - _EPOCH) // _SECOND) * (1.0 / 86400.0),  # floored to the second
}


class RecordTransformer:
    """A fitted FeaturePipeline compiled for records (see the module docstring).

    Args:
        pipeline: the fitted pipeline (its steps are read, never changed).
        schema: the training schema (which Python types each column accepts).
    """

    def __init__(self, pipeline: FeaturePipeline, schema: Schema) -> None:
        if not hasattr(pipeline, "steps_"):
            raise ValueError("the feature pipeline is not fitted")
        kinds = {c.name: c.kind for c in schema.features}
        self.specs = {c.name: c for c in schema.features}
        self.pipeline = pipeline
        self.width = len(pipeline.feature_names_)
        self.columns = [s["column"] for s in pipeline.steps_]
        self._plan = [self._compile(step, kinds.get(step["column"])) for step in pipeline.steps_]

    def _compile(self, step: dict[str, Any], kind: ColumnKind | None
                 ) -> Callable[[list[Any]], list[list[float]] | np.ndarray]:
        name, step_kind = step["column"], step["kind"]
        if step_kind == "codes":
            return self._codes(name, step)
        if step_kind == "onehot":
            return self._onehot(name, step)
        raw: Callable[[list[Any]], list[list[float]]]
        if step_kind == "numeric":
            if kind not in (ColumnKind.NUMERIC, ColumnKind.INTEGER):
                raise ValueError(f"column {name!r}: a numeric step for a {kind} column")
            convert = _numbers(name, kind is ColumnKind.INTEGER)

            def raw(values: list[Any]) -> list[list[float]]:
                return [[convert(v) for v in values]]
        elif step_kind == "boolean":
            to_bool = _boolean(name)

            def raw(values: list[Any]) -> list[list[float]]:
                return [[to_bool(v) for v in values]]
        elif step_kind == "datetime":
            getters = [_PARTS[p] for p in step["parts"]]

            def raw(values: list[Any]) -> list[list[float]]:
                moments = [_moment(name, v) for v in values]
                return [[_NAN if d is None else float(get(d)) for d in moments]
                        for get in getters]
        elif step_kind == "text" and _only_lengths(step):
            def raw(values: list[Any]) -> list[list[float]]:
                texts = [_string(name, v) for v in values]
                return [[_NAN if t is None else float(len(t)) for t in texts],
                        [_NAN if t is None else float(len(t.split())) for t in texts]]
        elif step_kind == "text":  # more than lengths: the pipeline's own code on this column
            spec, pipeline = self.specs[name], self.pipeline

            def block(values: list[Any]) -> np.ndarray:
                texts = pd.Series([_string(name, v) for v in values], dtype=object, name=name)
                return pipeline._transform_step(coerce_column(texts, spec)[0], step)
            return block
        else:
            raise ValueError(f"column {name!r}: unknown step kind {step_kind!r}")
        if self.pipeline.mode == "tree":
            return raw
        pipeline = self.pipeline

        def scaled(values: list[Any]) -> np.ndarray:
            columns = raw(values)
            if not columns:
                return np.zeros((len(values), 0))
            return pipeline.numbers_block(np.array(columns, dtype=np.float64).T, step)
        return scaled

    @staticmethod
    def _codes(name: str, step: dict[str, Any]) -> Callable[[list[Any]], list[list[float]]]:
        mapping = {lvl: float(i) for i, lvl in enumerate(step["levels"])}
        unseen = float(len(step["levels"])) if step["other"] else _NAN

        def codes(values: list[Any]) -> list[list[float]]:
            out = []
            for v in values:
                s = _string(name, v)
                out.append(_NAN if s is None else mapping.get(s, unseen))
            return [out]
        return codes

    @staticmethod
    def _onehot(name: str, step: dict[str, Any]) -> Callable[[list[Any]], np.ndarray]:
        index = {lvl: i for i, lvl in enumerate(step["levels"])}
        width = len(step["levels"]) + 1

        def onehot(values: list[Any]) -> np.ndarray:
            block = np.zeros((len(values), width), dtype=np.float64)
            for row, v in enumerate(values):
                s = _string(name, v)
                if s is None:
                    block[row, width - 1] = 1.0
                elif s in index:
                    block[row, index[s]] = 1.0
            return block
        return onehot

    def transform(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The float64 matrix of ``records`` (rows in order, columns as ``feature_names_``).

        Raises:
            NeedsFrame: a record lacks a feature key or holds a value whose coercion only the
                pandas path defines; score these records with the pandas path.
        """
        n = len(records)
        if n == 0:
            raise NeedsFrame("no records (the pandas path reports it)")
        blocks: list[np.ndarray] = []
        pending: list[list[float]] = []
        for name, step in zip(self.columns, self._plan, strict=True):
            try:
                values = [r[name] for r in records]
            except KeyError:
                raise NeedsFrame(f"a record has no key {name!r}") from None
            except TypeError:
                raise NeedsFrame("a record is not a mapping") from None
            block = step(values)
            if isinstance(block, list):
                pending.extend(block)
            else:
                if pending:
                    blocks.append(np.array(pending, dtype=np.float64).T)
                    pending = []
                blocks.append(block)
        if pending:
            blocks.append(np.array(pending, dtype=np.float64).T)
        if not blocks:
            return np.zeros((n, 0), dtype=np.float64)
        matrix = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
        return np.ascontiguousarray(matrix, dtype=np.float64)


_INTEGERS = {pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32()}
_FLOATS = {pa.float32(), pa.float64()}
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000}
_DAY_SECONDS = 86_400


def _datetime_parts(column: pa.ChunkedArray, parts: Sequence[str]) -> list[np.ndarray]:
    """The calendar ``parts`` (as pandas' ``.dt`` names them) of naive timestamps, float64
    with NaN for missing values: one pass of integer arithmetic on the epoch counts (the
    proleptic Gregorian civil-from-days algorithm), instead of one Arrow kernel per part."""
    unit = column.type.unit
    counts = column.cast(pa.int64())
    counts = counts.chunk(0) if counts.num_chunks == 1 else counts.combine_chunks()
    missing = np.asarray(counts.is_null().to_numpy(zero_copy_only=False)) \
        if counts.null_count else None
    values = counts.fill_null(0).to_numpy() if counts.null_count else counts.to_numpy()
    seconds = np.floor_divide(values, _PER_SECOND[unit])
    days = np.floor_divide(seconds, _DAY_SECONDS)
    of_day = seconds - days * _DAY_SECONDS
    z = days + 719_468  # days since 0000-03-01
    era = np.floor_divide(z, 146_097)
    of_era = z - era * 146_097
    year_of_era = (of_era - of_era // 1_460 + of_era // 36_524 - of_era // 146_096) // 365
    march_day = of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    march_month = (5 * march_day + 2) // 153  # 0 = March
    month = np.where(march_month < 10, march_month + 3, march_month - 9)
    year = year_of_era + era * 400 + (month <= 2)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    computed = {
        "year": lambda: year,
        "month": lambda: month,
        "day": lambda: march_day - (153 * march_month + 2) // 5 + 1,
        "dayofweek": lambda: (days + 3) % 7,  # 1970-01-01 was a Thursday; Monday is 0
        "hour": lambda: of_day // 3_600,
        "minute": lambda: of_day // 60 % 60,
        "dayofyear": lambda: np.where(march_month < 10, march_day + 60 + leap,
                                      march_day - 305),
        "days": lambda: seconds * (1.0 / 86400.0),
    }
    out = []
    for part in parts:
        result = computed[part]().astype(np.float64)
        if missing is not None:
            result[missing] = np.nan
        out.append(result)
    return out


def _floats(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 values, nulls as NaN (read-only when nothing had to be filled)."""
    cast = pc.cast(array, pa.float64())  # safe cast: raises for integers past 2**53
    if isinstance(cast, pa.ChunkedArray):
        cast = cast.chunk(0) if cast.num_chunks == 1 else cast.combine_chunks()
    if cast.null_count:
        cast = cast.fill_null(np.nan)
    return cast.to_numpy(zero_copy_only=False)


class ArrowTransformer:
    """A fitted FeaturePipeline compiled for Arrow tables (see the module docstring).

    Args:
        pipeline: the fitted pipeline.
        schema: the training schema (which Arrow types each column accepts).
    """

    def __init__(self, pipeline: FeaturePipeline, schema: Schema) -> None:
        if not hasattr(pipeline, "steps_"):
            raise ValueError("the feature pipeline is not fitted")
        self.pipeline = pipeline
        self.kinds = {c.name: c.kind for c in schema.features}
        self.specs = {c.name: c for c in schema.features}
        self._levels = {i: pa.array(step["levels"], pa.large_string())
                        for i, step in enumerate(pipeline.steps_) if "levels" in step}

    def transform(self, table: pa.Table) -> np.ndarray:
        """The float64 matrix of ``table``'s rows (columns as ``feature_names_``).

        Raises:
            NeedsFrame: a feature column is absent or of a type whose coercion only the
                pandas path defines; transform this table through pandas instead.
        """
        n = table.num_rows
        if n == 0:
            raise NeedsFrame("no rows (the pandas path reports it)")
        out = np.empty((n, len(self.pipeline.feature_names_)), dtype=np.float64)
        at = 0
        for i, step in enumerate(self.pipeline.steps_):
            name = step["column"]
            if name not in table.column_names:
                raise NeedsFrame(f"no column {name!r}")
            column = table.column(name)
            if pa.types.is_dictionary(column.type) and step["kind"] not in ("codes", "onehot"):
                column = column.cast(column.type.value_type)
            block = self._step(i, step, column, self.kinds.get(name))
            if isinstance(block, list):
                for values in block:
                    out[:, at] = values
                    at += 1
            else:
                out[:, at:at + block.shape[1]] = block
                at += block.shape[1]
        assert at == out.shape[1]
        return out

    def _step(self, i: int, step: dict[str, Any], column: pa.ChunkedArray,
              kind: ColumnKind | None) -> list[np.ndarray] | np.ndarray:
        """The step's output columns (a list: raw values) or block (an (n, k) matrix)."""
        name, typ, step_kind = step["column"], column.type, step["kind"]
        if step_kind in ("codes", "onehot"):
            codes, missing = self._codes(i, step, column)
            if step_kind == "codes":
                return [codes]
            width = len(step["levels"])
            cols = [codes == float(j) for j in range(width)]
            cols.append(missing)
            return np.column_stack(cols).astype(np.float64)
        if step_kind == "numeric":
            integer_ok = typ in _INTEGERS
            if not (integer_ok or typ in _FLOATS):
                raise NeedsFrame(f"column {name!r}: Arrow type {typ} (the pandas path decides)")
            try:
                values = _floats(column)
            except pa.ArrowInvalid as exc:
                raise NeedsFrame(f"column {name!r}: {exc}") from None
            if not integer_ok and kind is ColumnKind.INTEGER:  # floats for whole numbers
                present = ~np.isnan(values)
                if (present & (values != np.floor(values))).any() or (
                        present.all() and not (np.abs(values) <= _EXACT).all()):
                    raise NeedsFrame(f"column {name!r}: fractional or huge values for whole "
                                     "numbers (the pandas path decides)")
            columns = [values]
        elif step_kind == "boolean":
            if not pa.types.is_boolean(typ):
                raise NeedsFrame(f"column {name!r}: Arrow type {typ} (the pandas path decides)")
            columns = [_floats(column)]
        elif step_kind == "datetime":
            if not (pa.types.is_timestamp(typ) and typ.tz is None and typ.unit != "ns"):
                raise NeedsFrame(f"column {name!r}: Arrow type {typ} (the pandas path decides)")
            columns = _datetime_parts(column, step["parts"])
        else:  # text: Arrow's whitespace is not Python's str.split: the pipeline's own code
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                raise NeedsFrame(f"column {name!r}: Arrow type {typ} (the pandas path decides)")
            series = coerce_column(column.to_pandas(), self.specs[name])[0]
            return self.pipeline._transform_step(series, step)
        if not columns or self.pipeline.mode == "tree":
            return columns
        return self.pipeline.numbers_block(np.column_stack(columns), step)

    def _codes(self, i: int, step: dict[str, Any], column: pa.ChunkedArray
               ) -> tuple[np.ndarray, np.ndarray]:
        """A categorical step's codes (float: the level's rank; NaN when missing or unseen,
        ``len(levels)`` for an unseen value when the step has ``other``) and missing mask."""
        name, typ = step["column"], column.type
        value_type = typ.value_type if pa.types.is_dictionary(typ) else typ
        if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
            raise NeedsFrame(f"column {name!r}: Arrow type {typ} (the pandas path decides)")
        other = bool(step.get("other", False))
        unseen = float(len(step["levels"])) if other else np.nan
        if not pa.types.is_dictionary(typ):
            column = column.cast(pa.large_string())
            codes = _floats(pc.index_in(column, value_set=self._levels[i]))
            missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False))
            if other:
                codes = np.array(codes)
                codes[~missing & np.isnan(codes)] = unseen
            return codes, missing
        codes_parts, missing_parts = [], []
        for chunk in column.chunks:  # each chunk has its own dictionary
            dictionary = chunk.dictionary.cast(pa.large_string())
            lookup = np.append(_floats(pc.index_in(dictionary, value_set=self._levels[i])),
                               np.nan)  # the last entry: a missing value
            known = np.append(dictionary.is_valid().to_numpy(zero_copy_only=False), False)
            lookup[known & np.isnan(lookup)] = unseen
            indices = chunk.indices
            if indices.null_count:
                indices = indices.fill_null(len(dictionary))
            positions = indices.to_numpy(zero_copy_only=False)
            codes_parts.append(lookup[positions])
            missing_parts.append(~known[positions])
        if not codes_parts:
            return np.empty(0), np.empty(0, dtype=bool)
        return np.concatenate(codes_parts), np.concatenate(missing_parts)
