"""What every family translation shares: its result type, its refusal, and link functions.

The link functions are written out (``1 / (1 + exp(-s * x))``), as LightGBM, XGBoost and
CatBoost compute them, rather than left to an operator's own approximation.
"""

from __future__ import annotations

import numpy as np

from mlpilot.core.errors import ConfigError
from mlpilot.models.onnx.graph import GraphBuilder

DOUBLE, FLOAT, INT64 = 11, 1, 7

#: a family translation's result: (tensor, class id of each column) for classification,
#: (tensor of shape (n, 1), None) for regression
Scores = tuple[str, list[int] | None]


def refuse(family: str, what: str, found: str, fix: str = "use the Predictor bundle for this "
           "model (serve it with `mlpilot serve`)") -> ConfigError:
    """The error for a model part without a faithful ONNX translation."""
    return ConfigError(f"this {family} model cannot be exported to ONNX: {what}",
                       expected="a model whose every part has a faithful ONNX translation",
                       found=found, fix=fix)


def sigmoid(g: GraphBuilder, raw: str, scale: float = 1.0) -> str:
    """``1 / (1 + exp(-scale * raw))`` in double precision."""
    scaled = g.op("Mul", [raw, g.const(np.array(-scale))])
    return g.op("Reciprocal", [g.op("Add", [g.const(np.array(1.0)), g.op("Exp", [scaled])])],
                "sigmoid")


def binary_columns(g: GraphBuilder, positive: str) -> str:
    """``[1 - p, p]`` from the (n, 1) probability ``p``, as the adapters build it."""
    return g.op("Concat", [g.op("Sub", [g.const(np.array(1.0)), positive]), positive],
                "binary", axis=1)
