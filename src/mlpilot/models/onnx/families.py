"""One translation per model family: a member's model as ONNX operators on its feature matrix.

Each translation takes the member's (n, F) double feature matrix (``names`` are its columns) and
returns, in double precision, what the family's adapter ``predict`` returns: (n, c) class
probabilities whose column j is the class ``class_ids[j]``, or (n, 1) regression values.

- LightGBM and XGBoost: :mod:`.boosting`, tree by tree with each library's split semantics.
- scikit-learn forests: tree by tree (:mod:`.trees`), inputs rounded to float32 as scikit-learn
  does, NaN sent by ``missing_go_to_left``, the trees' probabilities averaged. (skl2onnx loops
  forever on the infinite thresholds of scikit-learn's missing-value splits.)
- CatBoost: CatBoost's own ONNX export, which refuses models with categorical features.
- linear: skl2onnx in double precision. k-NN: :mod:`.knn`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from mlpilot.core.config import Task
from mlpilot.models.onnx.boosting import lightgbm, xgboost
from mlpilot.models.onnx.graph import ML_OPSET, OPSET, GraphBuilder
from mlpilot.models.onnx.knn import knn_scores
from mlpilot.models.onnx.links import DOUBLE, FLOAT, Scores, binary_columns, refuse, sigmoid
from mlpilot.models.onnx.trees import TreeEnsemble


def forest(g: GraphBuilder, model: Any, X: str, names: list[str], task: Task,
           categorical: list[int]) -> Scores:
    """scikit-learn random forests and extra trees (the mean of the trees' outputs)."""
    rounded = g.op("Cast", [g.op("Cast", [X], to=FLOAT)], "float32_input", to=DOUBLE)
    classes = ([int(c) for c in np.asarray(model.classes_)] if task.is_classification
               else None)
    trees = TreeEnsemble(len(classes) if classes else 1)
    count = len(model.estimators_)
    for estimator in model.estimators_:
        tree = estimator.tree_
        left, right = tree.children_left, tree.children_right
        go_left = tree.__getstate__()["nodes"]["missing_go_to_left"]
        order, stack = [], [0]
        while stack:  # pre-order, so the root comes first
            node = stack.pop()
            order.append(node)
            if left[node] != -1:
                stack.extend((right[node], left[node]))
        index = trees.new_tree()
        handles: dict[int, int] = {}
        for node in order:
            if left[node] == -1:
                values = tree.value[node, 0, :].astype(np.float64)
                if classes is not None:
                    total = values.sum()
                    values = values / (total if total != 0 else 1.0)
                handles[node] = trees.leaf(index, {j: v / count for j, v in enumerate(values)
                                                   if v != 0.0})
            else:
                handles[node] = trees.split(index, feature=int(tree.feature[node]),
                                            mode="BRANCH_LEQ",
                                            value=float(tree.threshold[node]),
                                            missing_true=bool(go_left[node]))
        for node in order:
            if left[node] != -1:
                trees.link(index, handles[node], handles[left[node]], handles[right[node]])
    return trees.scores(g, rounded, "forest"), classes


def catboost(g: GraphBuilder, model: Any, X: str, names: list[str], task: Task,
             categorical: list[int]) -> Scores:
    from catboost import CatBoostError

    n_features = len(names)
    fd, path = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        model.save_model(path, format="onnx")
        proto = onnx.load(path)
    except CatBoostError as exc:
        cats = [names[i] for i in model.get_cat_feature_indices() if i < n_features]
        raise refuse("CatBoost", "CatBoost's ONNX export does not support categorical "
                     "features", "categorical feature(s) " + ", ".join(map(repr, cats)),
                     "use the Predictor bundle for this model, or train without CatBoost "
                     "(`mlpilot run` searches other families too)") from exc
    finally:
        os.unlink(path)
    graph = proto.graph
    ensemble = next(n for n in graph.node if n.op_type.startswith("TreeEnsemble"))
    probabilities = ensemble.op_type == "TreeEnsembleClassifier"
    if probabilities:  # keep the probability tensor, drop ZipMap
        kept = [n for n in graph.node if n.op_type != "ZipMap"]
        del graph.node[:]
        graph.node.extend(kept)
        del graph.output[:]
        graph.output.append(onnx.helper.make_tensor_value_info(ensemble.output[1], FLOAT,
                                                               None))
    feed = X
    if categorical:  # the adapter passes missing codes as -1
        cats = g.const(np.isin(np.arange(n_features), categorical)[None, :])
        missing = g.op("And", [g.op("IsNaN", [X]), cats])
        feed = g.op("Where", [missing, g.const(np.array(-1.0)), X])
    outputs = g.merge(proto, {graph.input[0].name: g.op("Cast", [feed], to=FLOAT)}, "catboost")
    result = g.op("Cast", [next(iter(outputs.values()))], to=DOUBLE)
    if probabilities:
        return result, list(range(_width(ensemble)))
    if task is Task.BINARY:
        return binary_columns(g, sigmoid(g, result)), [0, 1]
    if task is Task.MULTICLASS:
        return g.op("Softmax", [result], axis=1), list(range(_width(ensemble)))
    return result, None


def _width(node: onnx.NodeProto) -> int:
    for attribute in node.attribute:
        if attribute.name in ("classlabels_int64s", "classlabels_strings"):
            return len(attribute.ints) or len(attribute.strings)
        if attribute.name == "n_targets":
            return int(attribute.i)
    raise ValueError("a tree ensemble without classes or targets")


def linear(g: GraphBuilder, model: Any, X: str, names: list[str], task: Task,
           categorical: list[int]) -> Scores:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    options = {id(model): {"zipmap": False}} if task.is_classification else None
    proto = to_onnx(model, initial_types=[("features", DoubleTensorType([None, len(names)]))],
                    options=options, target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})
    outputs = g.merge(proto, {"features": X}, "linear")
    if task.is_classification:
        return outputs["probabilities"], [int(c) for c in np.asarray(model.classes_)]
    return g.op("Reshape", [outputs["variable"], g.const(np.array([-1, 1], dtype=np.int64))]), \
        None


def knn(g: GraphBuilder, model: Any, X: str, names: list[str], task: Task,
        categorical: list[int]) -> Scores:
    return knn_scores(g, model, X, task)


FAMILIES: dict[str, Callable[..., Scores]] = {
    "lightgbm": lightgbm, "random_forest": forest, "extra_trees": forest,
    "xgboost": xgboost, "catboost": catboost, "linear": linear, "knn": knn,
}
