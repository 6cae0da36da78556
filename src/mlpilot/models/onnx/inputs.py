"""The input contract of an exported graph: one named input per feature column of the schema.

Each input has shape (n, 1) and is named exactly like its column:

- numeric and integer columns: ``double``, NaN for a missing value;
- boolean columns: ``double``, 1.0 / 0.0, NaN for a missing value;
- categorical and text columns: ``string``, the empty string for a missing value;
- datetime columns: ``double``, seconds since 1970-01-01T00:00:00 of the wall-clock time (the
  time as written, read as if it were UTC; fractions of a second are ignored), NaN for missing.

:func:`feed_from_frame` is the reference implementation of this contract (the one the export's
verification uses): the frame is first checked and coerced against the training schema, exactly
as the Predictor does, then each column is laid out as above.

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> schema = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", True),
    ...                          ColumnSchema("city", ColumnKind.CATEGORICAL, "str", True),
    ...                          ColumnSchema("y", ColumnKind.BOOLEAN, "bool", False)), target="y")
    >>> feed = feed_from_frame(pd.DataFrame({"age": [30, None], "city": ["Lyon", None]}), schema)
    >>> feed["age"].tolist(), feed["city"].tolist()
    ([[30.0], [nan]], [['Lyon'], ['']])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from onnx import TensorProto

from mlpilot.core.errors import ConfigError
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema, validate_prediction_input

MISSING_STRING = ""
_MEANING = {
    ColumnKind.NUMERIC: "number (NaN = missing)",
    ColumnKind.INTEGER: "whole number as a double (NaN = missing)",
    ColumnKind.BOOLEAN: "1.0 true, 0.0 false (NaN = missing)",
    ColumnKind.CATEGORICAL: "category as text ('' = missing)",
    ColumnKind.TEXT: "text ('' = missing)",
    ColumnKind.DATETIME: "seconds since 1970-01-01T00:00:00 of the wall-clock time, "
                         "fractions ignored (NaN = missing)",
}


@dataclass(frozen=True)
class InputSpec:
    """One graph input: the column it carries, its ONNX element type and how values are laid."""

    name: str
    kind: ColumnKind
    elem_type: int
    meaning: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": str(self.kind),
                "type": "string" if self.elem_type == TensorProto.STRING else "double",
                "shape": "(n, 1)", "meaning": self.meaning}


def input_specs(schema: Schema) -> list[InputSpec]:
    """The graph inputs for ``schema``'s feature columns, in training order.

    Raises:
        ConfigError: a datetime column in a time zone other than UTC (its calendar parts follow
            daylight-saving rules that ONNX operators cannot apply).
    """
    specs = []
    for col in schema.features:
        if col.kind is ColumnKind.DATETIME:
            _check_time_zone(col)
        elem = (TensorProto.STRING if col.kind in (ColumnKind.CATEGORICAL, ColumnKind.TEXT)
                else TensorProto.DOUBLE)
        specs.append(InputSpec(col.name, col.kind, elem, _MEANING[col.kind]))
    return specs


def _check_time_zone(col: ColumnSchema) -> None:
    dtype = col.dtype.replace(" ", "")
    if "," in dtype and not dtype.endswith(",UTC]"):
        raise ConfigError(
            f"datetime column {col.name!r} holds times in a time zone ({col.dtype})",
            expected="naive or UTC datetimes, whose calendar parts are plain arithmetic on "
                     "seconds since the epoch",
            found=col.dtype,
            fix="use the Predictor bundle for this model, or retrain with the column "
                "converted to UTC or to wall-clock times")


def feed_from_frame(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """The graph's inputs for the rows of ``frame`` (checked like the Predictor checks them)."""
    rows = validate_prediction_input(frame, schema)
    feed = {}
    for spec in input_specs(schema):
        series = rows[spec.name]
        if spec.elem_type == TensorProto.STRING:
            values = series.astype("str").to_numpy(dtype=object, na_value=None)
            column = np.array([MISSING_STRING if v is None else v for v in values], dtype=object)
        elif spec.kind is ColumnKind.DATETIME:
            column = _epoch_seconds(series)
        else:
            column = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        feed[spec.name] = column.reshape(-1, 1)
    return feed


def _epoch_seconds(series: pd.Series) -> np.ndarray:
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = series.to_numpy()
    missing = np.isnat(stamps)
    seconds = stamps.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    return np.where(missing, np.nan, seconds)
