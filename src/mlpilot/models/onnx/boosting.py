"""LightGBM and XGBoost boosters translated tree by tree, with each library's split semantics.

LightGBM (from ``dump_model``): numerical splits ``x <= threshold`` in double precision; a
feature whose ``missing_type`` is "None" reads NaN as 0, one whose type is "Zero" sends 0 and
NaN the default way (so the graph feeds the trees a transformed copy of such a feature); a
categorical split sends the listed codes left and NaN, negative or unlisted codes right.
onnxmltools instead rounds the thresholds to float32 and ignores the "None"/"Zero" types.

XGBoost (from its JSON model): values and thresholds in float32 (``x < threshold``), missing
values the default way, a categorical split sends the codes of its set right and the others
(and invalid codes) left; the raw score starts at the model's base score. onnxmltools' own
translation of categorical splits takes minutes for a few hundred levels.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlpilot.core.config import Task
from mlpilot.models.onnx.graph import GraphBuilder
from mlpilot.models.onnx.links import DOUBLE, FLOAT, Scores, binary_columns, refuse, sigmoid
from mlpilot.models.onnx.trees import TreeEnsemble

_ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float)
#: LightGBM objectives whose raw score is the prediction, or its exponential
_IDENTITY = {"regression", "regression_l2", "regression_l1", "huber", "fair", "quantile", "mape"}
_EXP = {"poisson", "gamma", "tweedie"}


def lightgbm(g: GraphBuilder, model: Any, X: str, names: list[str], task: Task,
             categorical: list[int]) -> Scores:
    best = model.best_iteration if model.best_iteration > 0 else None
    dump = model.dump_model(num_iteration=best)
    objective = str(dump.get("objective", "")).split()
    name = objective[0] if objective else ""
    if dump.get("average_output") or any(t.get("is_linear") for t in dump["tree_info"]):
        raise refuse("LightGBM", "random-forest mode or linear trees", name)
    per_iteration = int(dump["num_tree_per_iteration"])
    trees = TreeEnsemble(per_iteration)
    derived: dict[tuple[int, str], int] = {}

    def column(feature: int, missing_type: str) -> int:
        transform = {"None": "nan_to_zero", "Zero": "zero_to_nan"}.get(missing_type)
        if transform is None:
            return feature
        return derived.setdefault((feature, transform), len(names) + len(derived))

    def build(tree: int, node: dict[str, Any], target: int) -> int:
        if "split_index" not in node:
            return trees.leaf(tree, {target: float(node["leaf_value"])})
        feature = int(node["split_feature"])
        if node["decision_type"] == "==":
            levels = [float(v) for v in str(node["threshold"]).split("||")]
            first = trees.member_of(tree, feature=feature, levels=levels)
            left, right = (build(tree, node[k], target) for k in ("left_child", "right_child"))
            trees.link_member(tree, first, left, right)
            return first
        missing = node["missing_type"]
        handle = trees.split(tree, feature=column(feature, missing), mode="BRANCH_LEQ",
                             value=float(node["threshold"]),
                             missing_true=bool(node["default_left"]) and missing != "None")
        left, right = (build(tree, node[k], target) for k in ("left_child", "right_child"))
        trees.link(tree, handle, left, right)
        return handle

    for i, info in enumerate(dump["tree_info"]):
        build(trees.new_tree(), info["tree_structure"], i % per_iteration)
    inputs = [X]
    for (feature, transform), _ in sorted(derived.items(), key=lambda item: item[1]):
        value = g.op("Gather", [X, g.const(np.array([feature], dtype=np.int64))], axis=1)
        if transform == "nan_to_zero":
            inputs.append(g.op("Where", [g.op("IsNaN", [value]), g.const(np.array(0.0)), value]))
        else:
            zero = g.op("LessOrEqual", [g.op("Abs", [value]),
                                        g.const(np.array(_ZERO_THRESHOLD))])
            inputs.append(g.op("Where", [zero, g.const(np.array(np.nan)), value]))
    matrix = g.op("Concat", inputs, "lgb_input", axis=1) if len(inputs) > 1 else X
    raw = trees.scores(g, matrix, "lightgbm")
    if name == "binary":
        scale = float(objective[1].split(":")[1]) if len(objective) > 1 else 1.0
        return binary_columns(g, sigmoid(g, raw, scale)), [0, 1]
    if name == "multiclass":
        return g.op("Softmax", [raw], axis=1), list(range(per_iteration))
    if name in _IDENTITY:
        return raw, None
    if name in _EXP:
        return g.op("Exp", [raw]), None
    raise refuse("LightGBM", f"the objective {name!r} has no translation", name)


def xgboost(g: GraphBuilder, model: Any, X: str, names: list[str], task: Task,
            categorical: list[int]) -> Scores:
    learner = json.loads(bytes(model.save_raw(raw_format="json")))["learner"]
    booster = learner["gradient_booster"]
    objective = learner["objective"]["name"]
    if booster["name"] != "gbtree":
        raise refuse("XGBoost", f"the {booster['name']} booster has no translation",
                     booster["name"])
    if objective not in ("binary:logistic", "multi:softprob", "multi:softmax",
                         "reg:squarederror"):
        raise refuse("XGBoost", f"the objective {objective!r} has no translation", objective)
    params = learner["learner_model_param"]
    base = np.asarray(json.loads(params["base_score"]), dtype=np.float32).reshape(-1)
    width = max(1, int(params.get("num_class", "0") or 0))
    if objective == "binary:logistic":  # the base score is a probability
        base = -np.log(np.float32(1.0) / base - np.float32(1.0))
    base = np.broadcast_to(base.astype(np.float64), (width,))
    trees = TreeEnsemble(width)
    for info, tree in zip(booster["model"]["tree_info"], booster["model"]["trees"],
                          strict=True):
        _xgboost_tree(trees, tree, int(info))
    rounded = g.op("Cast", [g.op("Cast", [X], to=FLOAT)], "float32_input", to=DOUBLE)
    raw = g.op("Add", [trees.scores(g, rounded, "xgboost"), g.const(base[None, :], "base")])
    if objective == "binary:logistic":
        return binary_columns(g, sigmoid(g, raw)), [0, 1]
    if objective.startswith("multi:"):
        return g.op("Softmax", [raw], axis=1), list(range(width))
    return raw, None


def _xgboost_tree(trees: TreeEnsemble, tree: dict[str, Any], target: int) -> None:
    left, right = tree["left_children"], tree["right_children"]
    values, features = tree["split_conditions"], tree["split_indices"]
    default_left, kinds = tree["default_left"], tree["split_type"]
    sets = {int(node): tree["categories"][start:start + size] for node, start, size in
            zip(tree["categories_nodes"], tree["categories_segments"],
                tree["categories_sizes"], strict=True)}
    index = trees.new_tree()
    order, stack = [], [0]
    while stack:  # pre-order, so the root comes first
        node = stack.pop()
        order.append(node)
        if left[node] != -1:
            stack.extend((right[node], left[node]))
    handles: dict[int, int] = {}
    for node in order:
        if left[node] == -1:
            handles[node] = trees.leaf(index, {target: float(np.float32(values[node]))})
        elif kinds[node] == 1:  # categorical: the set goes right, missing the default way
            handles[node] = trees.member_of(index, feature=int(features[node]),
                                            levels=[float(c) for c in sets[node]],
                                            missing_in_set=not default_left[node])
        else:
            handles[node] = trees.split(index, feature=int(features[node]), mode="BRANCH_LT",
                                        value=float(np.float32(values[node])),
                                        missing_true=bool(default_left[node]))
    for node in order:
        if left[node] == -1:
            continue
        if kinds[node] == 1:
            trees.link_member(index, handles[node], handles[right[node]], handles[left[node]])
        else:
            trees.link(index, handles[node], handles[left[node]], handles[right[node]])
