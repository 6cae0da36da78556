"""Export a Predictor to ONNX for client devices: one graph from raw columns to its answers.

The graph (:mod:`mlpilot.models.onnx.compose`) takes one input per feature column of the
training schema, named like the column (double for numbers, booleans and datetimes as seconds
since the epoch; string for categories and text; NaN or '' for missing values: see
:mod:`mlpilot.models.onnx.inputs`), computes the feature preprocessing, every member model and
the weighted average of an ensemble or of bagged fold models, and answers ``prediction`` (what
``Predictor.predict`` returns) and, for classification, ``probabilities``
(``Predictor.predict_proba``). The decision threshold, classes, schema and input contract are in
the ONNX metadata (``mlpilot.*``).

:func:`export_onnx` runs the graph with onnxruntime on sample rows (laid out by
:func:`~mlpilot.models.onnx.inputs.feed_from_frame`, the reference client) and refuses it when an
output differs from the Predictor's by more than ``tolerance`` (relative to the value where
its magnitude is above 1, so float32 tree sums of large regression targets are judged fairly),
or when a label differs on a row whose probabilities are not within ``tolerance`` of the
decision boundary.

Example:
    >>> import pandas as pd
    >>> from mlpilot.core.config import Task
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> from mlpilot.models.predictor import Predictor, fit_member
    >>> schema = Schema(columns=(ColumnSchema("x", ColumnKind.NUMERIC, "float64", False),
    ...                          ColumnSchema("y", ColumnKind.CATEGORICAL, "str", False)),
    ...                 target="y")
    >>> train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 10})
    >>> member = fit_member("linear", train, [0, 0, 1, 1] * 10, schema=schema,
    ...                     task=Task.BINARY, n_classes=2, params={}, seed=0, n_threads=1)
    >>> predictor = Predictor(schema, Task.BINARY, ["no", "yes"], [member])
    >>> result = export_onnx(predictor, train)
    >>> result.rows_checked, result.max_abs_diff < 1e-6, result.inputs
    (40, True, ('x',))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlpilot.core.errors import IntegrityError
from mlpilot.models.onnx.compose import build_model, describe, label_values
from mlpilot.models.onnx.inputs import feed_from_frame
from mlpilot.models.predictor import Predictor

CHUNK_ROWS = 256  # rows per onnxruntime call while verifying (bounds k-NN distance matrices)


@dataclass(frozen=True)
class OnnxExport:
    """An exported graph and how closely it matched the Predictor on the sample rows.

    ``max_abs_diff`` is the largest absolute difference of an output value; ``max_diff`` the
    largest difference as judged against the tolerance (divided by the value's magnitude where
    that is above 1).
    """

    data: bytes
    rows_checked: int
    max_abs_diff: float
    max_diff: float
    family: str
    inputs: tuple[str, ...]


def export_onnx(predictor: Predictor, sample: pd.DataFrame, *,
                tolerance: float = 1e-4) -> OnnxExport:
    """The ONNX graph of ``predictor`` (preprocessing, members, weights), verified on ``sample``.

    Raises:
        ConfigError: something in the Predictor has no faithful ONNX translation (a CatBoost
            model with categorical features, a datetime column in a non-UTC time zone, an
            empty-string category level, ...); the message names it.
        IntegrityError: onnxruntime's outputs differ from the Predictor's beyond ``tolerance``.
    """
    model = build_model(predictor)
    data = model.SerializeToString()
    got = _run(data, feed_from_frame(sample, predictor.schema), len(sample))
    classification = predictor.task.is_classification
    expected = predictor.predict_proba(sample) if classification else predictor.predict(sample)
    values = got["probabilities"] if classification else got["prediction"]
    if values.shape != expected.shape:
        raise _mismatch("the ONNX graph answers in another shape than the Predictor",
                        str(expected.shape), str(values.shape))
    absolute = np.abs(values - expected)
    scaled = absolute / np.maximum(1.0, np.abs(expected))
    max_abs = float(np.max(absolute)) if absolute.size else 0.0
    worst = float(np.max(scaled)) if scaled.size else 0.0
    if not worst <= tolerance:  # NaN fails too
        row = int(np.argmax(np.nan_to_num(scaled, nan=np.inf).reshape(len(expected), -1)
                            .max(axis=1)))
        raise _mismatch("the ONNX graph does not reproduce the Predictor's outputs",
                        f"differences <= {tolerance:g} on {len(expected)} rows",
                        f"a largest difference of {worst:.3g} (row {row})")
    if classification:
        _check_labels(predictor, expected, predictor.predict(sample), got["prediction"],
                      tolerance)
    return OnnxExport(data, len(expected), max_abs, worst, describe(predictor),
                      tuple(i.name for i in model.graph.input))


def _run(data: bytes, feed: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise _mismatch("onnxruntime cannot load the exported graph",
                        "a graph onnxruntime runs", str(exc)[:300]) from exc
    names = [o.name for o in session.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, n, CHUNK_ROWS):
        chunk = {key: value[start:start + CHUNK_ROWS] for key, value in feed.items()}
        for name, value in zip(names, session.run(names, chunk), strict=True):
            parts[name].append(np.asarray(value))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _check_labels(predictor: Predictor, proba: np.ndarray, labels: np.ndarray,
                  got: np.ndarray, tolerance: float) -> None:
    """Labels must agree except where the Predictor's probabilities are within ``tolerance``
    of the decision boundary (float rounding may then fall either side)."""
    expected, _ = label_values(list(labels))
    if proba.shape[1] == 2 and predictor.threshold is not None:
        clear = np.abs(proba[:, 1] - float(predictor.threshold)) > tolerance
    else:
        top = np.sort(proba, axis=1)
        clear = top[:, -1] - top[:, -2] > 2 * tolerance
    differ = (np.asarray(got) != expected) & clear
    if differ.any():
        row = int(np.flatnonzero(differ)[0])
        raise _mismatch("the ONNX graph's labels differ from the Predictor's",
                        "the same label wherever the probabilities are clear of the decision "
                        "boundary", f"{int(differ.sum())} row(s) differ, the first is row {row}: "
                        f"{got[row]!r} instead of {expected[row]!r}")


def _mismatch(problem: str, expected: str, found: str) -> IntegrityError:
    return IntegrityError(problem, expected=expected, found=found,
                          fix="use the Predictor bundle for this model (or raise --tolerance if "
                              "the difference is acceptable for this use); please report it")
