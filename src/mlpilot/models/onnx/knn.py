"""Brute-force k-nearest neighbours as ONNX operators, following scikit-learn's arithmetic.

scikit-learn ranks neighbours by squared distances computed as ``max(0, |x|^2 - 2 x.y + |y|^2)``
(in that order of additions), keeps the earlier training row on ties, and weights neighbours by
1 / distance, except that a query at distance zero from training rows gets weight 1 on those
rows and 0 on the others. The graph does the same: the training matrix and its squared norms
are constants, ``TopK`` (ascending, the lower index first on ties) picks the neighbours.

The dot products are summed by another library than scikit-learn's BLAS, so two distances that
differ only in their last bits can be ranked the other way round; on data with such near-ties
the export's verification notices and refuses the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import numpy_helper

from mlpilot.core.config import Task
from mlpilot.models.onnx.graph import GraphBuilder

DOUBLE = 11


def knn_scores(g: GraphBuilder, model: Any, X: str, task: Task) -> tuple[str, list[int] | None]:
    """(n, c) probabilities with their class ids, or (n, 1) values and None."""
    train = np.ascontiguousarray(model._fit_X, dtype=np.float64)
    k = int(min(model.n_neighbors, len(train)))
    norms = np.array([np.dot(row, row) for row in train], dtype=np.float64)[None, :]

    def axes(*values: int) -> str:
        return g.const(np.array(values, dtype=np.int64), "axes")

    own = g.op("ReduceSum", [g.op("Mul", [X, X]), axes(1)], "norms", keepdims=1)
    middle = g.op("Mul", [g.op("MatMul", [X, g.const(train.T.copy(), "train")]),
                          g.const(np.array(-2.0))])
    squared = g.op("Max", [g.op("Add", [g.op("Add", [own, middle]), g.const(norms, "y_norms")]),
                           g.const(np.array(0.0))])
    nearest, index = g.op("TopK", [squared, g.const(np.array([k], dtype=np.int64))], "knn",
                          outputs=2, axis=1, largest=0, sorted=1)
    distance = g.op("Sqrt", [nearest])
    if model.weights == "distance":
        inverse = g.op("Div", [g.const(np.array(1.0)), distance])
        exact = g.op("IsInf", [inverse])
        exact_row = g.op("Greater", [g.op("ReduceMax", [g.op("Cast", [exact], to=DOUBLE)],
                                          axes=[1], keepdims=1), g.const(np.array(0.0))])
        weights = g.op("Where", [exact_row, g.op("Cast", [exact], to=DOUBLE), inverse])
    else:
        weights = g.op("ConstantOfShape", [g.op("Shape", [distance])],
                       value=numpy_helper.from_array(np.array([1.0])))
    labels = g.op("Gather", [g.const(np.asarray(model._y).reshape(-1)), index], axis=0)
    if not task.is_classification:
        values = g.op("Cast", [labels], to=DOUBLE)
        if model.weights == "distance":
            total = g.op("ReduceSum", [g.op("Mul", [values, weights]), axes(1)], keepdims=1)
            return g.op("Div", [total, g.op("ReduceSum", [weights, axes(1)], keepdims=1)]), None
        return g.op("ReduceMean", [values], axes=[1], keepdims=1), None
    classes = [int(c) for c in np.asarray(model.classes_)]
    positions = np.arange(len(classes), dtype=np.int64).reshape(1, 1, -1)
    onehot = g.op("Cast", [g.op("Equal", [g.op("Unsqueeze", [labels, axes(2)]),
                                          g.const(positions)])], to=DOUBLE)
    votes = g.op("Mul", [onehot, g.op("Unsqueeze", [weights, axes(2)])])
    proba = g.op("ReduceSum", [votes, axes(1)], keepdims=0)
    total = g.op("ReduceSum", [proba, axes(1)], keepdims=1)
    safe = g.op("Where", [g.op("Equal", [total, g.const(np.array(0.0))]),
                          g.const(np.array(1.0)), total])
    return g.op("Div", [proba, safe], "knn_proba"), classes
