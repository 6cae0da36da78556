"""A whole Predictor as one ONNX graph: raw columns in, the Predictor's answers out.

Inputs: one per feature column of the training schema (:mod:`.inputs`). Each distinct fitted
FeaturePipeline becomes one preprocessing subgraph (:mod:`.features`; bagged fold models share
theirs), each member one model subgraph (:mod:`.families`; a regression member fitted under a target
transform maps its outputs back as :mod:`mlpilot.models.target` does), and the members' outputs are
averaged with the Predictor's weights in the Predictor's order: ``sum(part * weight / total)``.

Outputs:

- ``probabilities`` (n, k) double, columns in the order of ``metadata['mlpilot.classes']``
  (classification only);
- ``prediction`` (n,): the label (``classes[1]`` when its probability >= the decision threshold
  for binary, the most probable class for multiclass) or the regression value (double).
  Labels are int64 when every class is an integer, bool for booleans, double for floats,
  strings otherwise.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError
from mlpilot.core.hashing import canonical_json
from mlpilot.models import target as target_transform
from mlpilot.models.onnx.families import FAMILIES
from mlpilot.models.onnx.features import feature_matrix
from mlpilot.models.onnx.graph import GraphBuilder
from mlpilot.models.onnx.inputs import input_specs
from mlpilot.models.predictor import Member, Predictor

OUTPUTS = frozenset({"prediction", "probabilities"})
CONTRACT = (
    "inputs: one (n, 1) tensor per feature column, named like the column (see "
    "metadata['mlpilot.inputs']): double for numbers, integers, booleans (1/0) and datetimes "
    "(seconds since the epoch of the wall-clock time), string for categories and text; NaN or "
    "'' marks a missing value. outputs: 'prediction' (n,) = Predictor.predict, and for "
    "classification 'probabilities' (n, k) = Predictor.predict_proba in the order of "
    "metadata['mlpilot.classes']")


def describe(predictor: Predictor) -> str:
    """``lightgbm``, or ``ensemble (lightgbm x5, linear x5)`` for several members."""
    if len(predictor.members) == 1:
        return predictor.members[0].family
    counts = Counter(m.family for m in predictor.members)
    return "ensemble (" + ", ".join(f"{family} x{n}" for family, n in counts.items()) + ")"


def build_model(predictor: Predictor) -> onnx.ModelProto:
    """The ONNX graph of ``predictor`` with its metadata (not yet verified).

    Raises:
        ConfigError: a family, objective, feature step or column type without a faithful
            translation (the message names it).
    """
    g = GraphBuilder()
    specs = input_specs(predictor.schema)
    taken = sorted(OUTPUTS & {s.name for s in specs})
    if taken:
        raise ConfigError(f"feature column {taken[0]!r} has the name of a graph output",
                          expected="feature columns not named " + " or ".join(sorted(OUTPUTS)),
                          found=", ".join(map(repr, taken)),
                          fix="use the Predictor bundle for this model, or rename the column "
                              "and retrain")
    columns = {s.name: g.add_input(s.name, s.elem_type, [None, 1]) for s in specs}
    task = predictor.task
    k = len(predictor.classes or ()) if task.is_classification else 1
    matrices: dict[bytes, str] = {}
    total = float(sum(m.weight for m in predictor.members))
    combined: str | None = None
    for member in predictor.members:
        part = _member(g, member, task, k, columns, matrices)
        part = g.op("Mul", [part, g.const(np.array(member.weight / total))], "weighted")
        combined = part if combined is None else g.op("Add", [combined, part], "sum")
    assert combined is not None  # a Predictor has at least one member
    if task.is_classification:
        g.add_output(combined, "probabilities", TensorProto.DOUBLE, [None, k])
        labels, elem = _labels(g, predictor, combined)
        g.add_output(labels, "prediction", elem, [None])
    else:
        flat = g.op("Reshape", [combined, g.const(np.array([-1], dtype=np.int64))])
        g.add_output(flat, "prediction", TensorProto.DOUBLE, [None])
    metadata = {
        "mlpilot.task": str(task),
        "mlpilot.classes": json.dumps(predictor.classes),
        "mlpilot.threshold": json.dumps(predictor.threshold),
        "mlpilot.inputs": json.dumps([s.to_dict() for s in specs]),
        "mlpilot.members": json.dumps([
            {"family": m.family, "weight": m.weight / total,
             **({"target": m.target} if m.target != target_transform.IDENTITY else {}),
             **({"target_range": list(m.target_range)} if m.target_range is not None else {})}
            for m in predictor.members]),
        "mlpilot.schema": json.dumps(predictor.schema.to_dict()),
        "mlpilot.versions": json.dumps(dict(predictor.versions), sort_keys=True),
        "mlpilot.contract": CONTRACT,
    }
    return g.build(f"mlpilot Predictor: {describe(predictor)}. {CONTRACT}", metadata)


def _member(g: GraphBuilder, member: Member, task: Task, k: int, columns: dict[str, str],
            matrices: dict[bytes, str]) -> str:
    """The member's (n, k) probabilities in class order, or its (n, 1) values."""
    if member.features is None:
        return _constant(g, member, task, k, next(iter(columns.values())))
    translate = FAMILIES.get(member.family)
    if translate is None:
        raise ConfigError(f"the {member.family} family has no ONNX translation",
                          expected=", ".join(sorted(FAMILIES)) + " or baseline",
                          found=member.family, fix="use the Predictor bundle for this model")
    features = member.features
    key = canonical_json(features.to_dict())
    if key not in matrices:
        matrices[key] = feature_matrix(g, features, columns)
    scores, class_ids = translate(g, member.model, matrices[key], list(features.feature_names_),
                                  task, list(features.categorical_indices_))
    if not task.is_classification:
        return _target_inverse(g, member.target, scores, member.target_range)
    assert class_ids is not None
    if class_ids == list(range(k)):
        return scores
    placement = np.zeros((len(class_ids), k))  # column j of the member -> class class_ids[j]
    for j, cls in enumerate(class_ids):
        if cls < k:
            placement[j, cls] = 1.0
    return g.op("MatMul", [scores, g.const(placement, "placement")], "placed")


def _target_inverse(g: GraphBuilder, name: str, scores: str,
                    fitted: tuple[float, float] | None) -> str:
    """A regression member's outputs mapped back to the target's units, as
    :func:`mlpilot.models.target.inverse` does (clipped to the same bounds first)."""
    if name == target_transform.IDENTITY:
        return scores
    low, high = target_transform.clip_bounds(name, fitted)
    bounds = [g.const(np.array(low))] + ([g.const(np.array(high))] if np.isfinite(high) else [])
    clipped = g.op("Clip", [scores, *bounds], "clipped")
    if name == "log1p":
        return g.op("Sub", [g.op("Exp", [clipped]), g.const(np.array(1.0))], "expm1")
    return g.op("Mul", [clipped, clipped], "squared")


def _constant(g: GraphBuilder, member: Member, task: Task, k: int, any_input: str) -> str:
    """The baseline: its class priors or mean, on every row."""
    values = np.asarray(member.model["values"], dtype=np.float64)
    if task.is_classification:
        values = np.concatenate([values, np.zeros(max(0, k - len(values)))])[:k]
    rows = g.op("Slice", [g.op("Shape", [any_input]), g.const(np.array([0], dtype=np.int64)),
                          g.const(np.array([1], dtype=np.int64))])
    shape = g.op("Concat", [rows, g.const(np.array([len(values)], dtype=np.int64))], axis=0)
    return g.op("Expand", [g.const(values[None, :], "baseline"), shape], "baseline_rows")


def label_values(classes: list[Any]) -> tuple[np.ndarray, int]:
    """The classes as the array the graph's ``prediction`` output takes values from."""
    array = np.asarray(classes)
    if array.dtype.kind == "b":
        return array.astype(bool), TensorProto.BOOL
    if array.dtype.kind in "iu":
        return array.astype(np.int64), TensorProto.INT64
    if array.dtype.kind == "f":
        return array.astype(np.float64), TensorProto.DOUBLE
    return np.array([str(c) for c in classes], dtype=object), TensorProto.STRING


def _labels(g: GraphBuilder, predictor: Predictor, proba: str) -> tuple[str, int]:
    values, elem = label_values(list(predictor.classes or ()))
    if predictor.task is Task.BINARY:
        positive = g.op("Gather", [proba, g.const(np.array(1, dtype=np.int64))], axis=1)
        threshold = 0.5 if predictor.threshold is None else float(predictor.threshold)
        index = g.op("Cast", [g.op("GreaterOrEqual", [positive,
                                                      g.const(np.array(threshold))])], to=7)
    else:
        index = g.op("ArgMax", [proba], axis=1, keepdims=0)
    return g.op("Gather", [g.const(values, "classes"), index], "label", axis=0), elem
