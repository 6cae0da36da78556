"""A fitted FeaturePipeline as ONNX operators: the raw column inputs in, its float64 matrix out.

Step by step, the same arithmetic as ``FeaturePipeline.transform`` in double precision:

- numeric / integer: the value; boolean: 1.0 when non-zero (NaN stays NaN);
- datetime: the calendar parts of the seconds since the epoch (:mod:`.dates`);
- text: character and word counts and the TF-IDF components (:mod:`.text`);
- codes (tree mode): ``LabelEncoder`` from level to its code; missing -> NaN; unseen -> NaN, or
  the "other" code when the pipeline has one;
- one-hot (linear mode): a 0/1 column per kept level and a missing column;
- linear mode numbers: fill, standardise and the missing indicator (``numbers_block``).

Example:
    >>> import numpy as np, onnxruntime as ort, pandas as pd
    >>> from onnx import TensorProto
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> from mlpilot.models.features import FeaturePipeline
    >>> from mlpilot.models.onnx.graph import GraphBuilder
    >>> schema = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", True),
    ...                          ColumnSchema("city", ColumnKind.CATEGORICAL, "str", True),
    ...                          ColumnSchema("y", ColumnKind.BOOLEAN, "bool", False)), target="y")
    >>> X = pd.DataFrame({"age": [30, None, 50, 40], "city": ["Lyon", "Oslo", "Lyon", None]})
    >>> pipeline = FeaturePipeline("tree").fit(X, schema)
    >>> g = GraphBuilder()
    >>> cols = {"age": g.add_input("age", TensorProto.DOUBLE, [None, 1]),
    ...         "city": g.add_input("city", TensorProto.STRING, [None, 1])}
    >>> g.add_output(feature_matrix(g, pipeline, cols), "m", TensorProto.DOUBLE, [None, 2])
    >>> s = ort.InferenceSession(g.build().SerializeToString(), providers=["CPUExecutionProvider"])
    >>> s.run(None, {"age": np.array([[1.0]]), "city": np.array([["Paris"]], dtype=object)})
    [array([[ 1., nan]])]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlpilot.core.errors import ConfigError
from mlpilot.models.features import FeaturePipeline
from mlpilot.models.onnx.dates import datetime_parts
from mlpilot.models.onnx.graph import GraphBuilder
from mlpilot.models.onnx.inputs import MISSING_STRING
from mlpilot.models.onnx.text import text_columns


def feature_matrix(g: GraphBuilder, pipeline: FeaturePipeline,
                   columns: Mapping[str, str]) -> str:
    """The (n, F) double matrix of ``pipeline`` from the raw inputs ``columns`` (name -> tensor).

    Raises:
        ConfigError: a step this translation does not know, or a categorical column with the
            empty string among its levels (it is the graph's missing value).
    """
    blocks = [_step(g, pipeline, step, columns[step["column"]]) for step in pipeline.steps_]
    blocks = [b for b in blocks if b is not None]
    if not blocks:
        raise ConfigError("the model reads no feature columns", found="an empty feature matrix",
                          fix="export a model trained on at least one feature")
    if len(blocks) == 1:
        return blocks[0]
    return g.op("Concat", blocks, "features", axis=1)


def _step(g: GraphBuilder, pipeline: FeaturePipeline, step: dict[str, Any],
          column: str) -> str | None:
    kind = step["kind"]
    if kind == "codes":
        return _codes(g, step, column)
    if kind == "onehot":
        return _onehot(g, step, column)
    if kind == "numeric":
        raw = column
    elif kind == "boolean":
        nonzero = g.op("Cast", [g.op("Not", [g.op("Equal", [column, g.const(np.array(0.0))])])],
                       to=11)
        raw = g.op("Where", [g.op("IsNaN", [column]), g.const(np.array(np.nan)), nonzero],
                   "bool")
    elif kind == "datetime":
        if not step["parts"]:
            return None
        raw = datetime_parts(g, column, step["parts"])
    elif kind == "text":
        raw = text_columns(g, step, column)
    else:
        raise ConfigError(f"feature step {kind!r} of column {step['column']!r} has no ONNX "
                          "translation", expected="numeric, boolean, datetime, text, codes or "
                          "onehot", found=kind, fix="use the Predictor bundle for this model")
    return _numbers_block(g, pipeline, step, raw)


def _numbers_block(g: GraphBuilder, pipeline: FeaturePipeline, step: dict[str, Any],
                   raw: str) -> str:
    """``FeaturePipeline.numbers_block``: as is (tree), or filled, standardised + indicator."""
    if pipeline.mode == "tree":
        return raw
    missing = g.op("IsNaN", [raw])

    def row(key: str) -> str:
        return g.const(np.asarray([step[key]], dtype=np.float64), key)

    filled = g.op("Where", [missing, row("fill"), raw], "filled")
    scaled = g.op("Div", [g.op("Sub", [filled, row("mean")]), row("std")], "scaled")
    if not step["indicator"]:
        return scaled
    any_missing = g.op("ReduceMax", [g.op("Cast", [missing], to=11)], "indicator", axes=[1],
                       keepdims=1)
    return g.op("Concat", [scaled, any_missing], axis=1)


def _levels(step: dict[str, Any]) -> list[str]:
    levels = [str(level) for level in step["levels"]]
    if MISSING_STRING in levels:
        raise ConfigError(
            f"categorical column {step['column']!r} has the empty string as a level",
            expected="levels that are not the empty string, which the ONNX graph reads as a "
                     "missing value",
            found="'' among the training levels",
            fix="use the Predictor bundle for this model, or retrain with empty strings "
                "replaced by a missing value or a word")
    return levels


def _codes(g: GraphBuilder, step: dict[str, Any], column: str) -> str:
    levels = _levels(step)
    unseen = float(len(levels)) if step["other"] else float("nan")
    keys = [*levels, MISSING_STRING]
    codes = g.op("LabelEncoder", [column], "codes", domain="ai.onnx.ml", keys_strings=keys,
                 values_floats=[*map(float, range(len(levels))), float("nan")],
                 default_float=unseen)
    return g.op("Cast", [codes], to=11)


def _onehot(g: GraphBuilder, step: dict[str, Any], column: str) -> str:
    levels = _levels(step)
    index = g.op("LabelEncoder", [column], "level", domain="ai.onnx.ml",
                 keys_strings=[*levels, MISSING_STRING],
                 values_int64s=[*range(len(levels)), -2], default_int64=-1)
    wanted = np.asarray([[*range(len(levels)), -2]], dtype=np.int64)
    return g.op("Cast", [g.op("Equal", [index, g.const(wanted, "levels")])], "onehot", to=11)
