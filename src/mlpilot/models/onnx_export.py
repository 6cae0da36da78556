"""Export a Predictor's model to ONNX for client devices, verified against the Predictor.

What the ONNX graph contains: the fitted model (LightGBM through onnxmltools, scikit-learn
forests and linear models through skl2onnx). What it does not: the feature preprocessing.
Its input is the float matrix ``features`` of shape (n, F) that ``FeaturePipeline.transform``
produces (columns in the order of ``feature_names``); that pipeline's state is stored in the
ONNX metadata (``mlpilot.features``, JSON) with the column names (``mlpilot.feature_names``),
the classes (``mlpilot.classes``) and this contract (``mlpilot.input_contract``), so a client
reproduces the preprocessing from data, not code. The reason: the datetime parts (year, month,
day of week, ...) and pandas-level type coercion have no faithful ONNX operators; a half
translated preprocessing would silently disagree with training, which is worse than a stated
contract.

Outputs: ``probabilities`` (n, k) for classification in the order of ``classes``,
``variable`` (n, 1) for regression. :func:`export_onnx` runs onnxruntime on sample rows and
refuses to return a graph whose outputs differ from the Predictor's by more than ``tolerance``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import ConfigError, IntegrityError
from mlpilot.data.schema import validate_prediction_input
from mlpilot.models.predictor import Predictor

TARGET_OPSET = 15
ML_OPSET = 3
CONTRACT = ("input 'features': float32 (n, F) = FeaturePipeline.from_dict("
            "json.loads(metadata['mlpilot.features'])).transform(rows), after the rows are "
            "checked against the training schema; output 'probabilities' (n, k) in the order of "
            "metadata['mlpilot.classes'] or 'variable' (n, 1) for regression")


@dataclass(frozen=True)
class OnnxExport:
    """An exported graph and how closely it matched the Predictor on the sample rows."""

    data: bytes
    rows_checked: int
    max_abs_diff: float
    family: str


def _convert(family: str, model: Any, n_features: int, classification: bool) -> Any:
    if family == "lightgbm":
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

        return convert_lightgbm(model, initial_types=[("features", MLFloat([None, n_features]))],
                                zipmap=False, target_opset=TARGET_OPSET)
    if family in ("linear", "random_forest", "extra_trees"):
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        options = {id(model): {"zipmap": False}} if classification else None
        return to_onnx(model, initial_types=[("features", FloatTensorType([None, n_features]))],
                       options=options, target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET})
    raise ConfigError(f"the {family} family has no ONNX export",
                      expected="lightgbm, linear, random_forest or extra_trees",
                      found=family, fix="export a model version of another family")


def _outputs(session: Any, X: np.ndarray, classification: bool) -> np.ndarray:
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, {"features": X.astype(np.float32)}),
                      strict=True))
    if classification:
        key = next((n for n in names if "prob" in n.lower()), names[-1])
        return np.asarray(values[key], dtype=np.float64)
    key = next((n for n in names if n != "label"), names[0])
    return np.asarray(values[key], dtype=np.float64).reshape(len(X))


def export_onnx(predictor: Predictor, sample: pd.DataFrame, *,
                tolerance: float = 1e-4) -> OnnxExport:
    """The ONNX graph of ``predictor``'s model, verified on ``sample`` rows with onnxruntime.

    Raises:
        ConfigError: an ensemble of several members, or a family without a converter.
        IntegrityError: onnxruntime's outputs differ from the Predictor's beyond ``tolerance``.
    """
    import onnx
    import onnxruntime as ort

    if len(predictor.members) != 1 or predictor.members[0].features is None:
        raise ConfigError("only single-model Predictors with a feature pipeline export to ONNX",
                          found=", ".join(m.family for m in predictor.members),
                          fix="export a model version of one family (not the baseline)")
    member = predictor.members[0]
    features = member.features
    assert features is not None
    classification = predictor.task.is_classification
    n_features = len(features.feature_names_)
    graph = _convert(member.family, member.model, n_features, classification)
    graph.doc_string = "mlpilot model export. " + CONTRACT
    meta = {"mlpilot.features": json.dumps(features.to_dict(), sort_keys=True),
            "mlpilot.feature_names": json.dumps(features.feature_names_),
            "mlpilot.classes": json.dumps(predictor.classes),
            "mlpilot.task": str(predictor.task),
            "mlpilot.threshold": json.dumps(predictor.threshold),
            "mlpilot.input_contract": CONTRACT}
    onnx.helper.set_model_props(graph, meta)
    data = graph.SerializeToString()

    rows = validate_prediction_input(sample, predictor.schema)
    X = features.transform(rows)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    got = _outputs(session, X, classification)
    expected = (predictor.predict_proba(sample) if classification
                else predictor.predict(sample))
    if got.shape != expected.shape:
        raise IntegrityError("the ONNX graph answers in another shape than the Predictor",
                             expected=str(expected.shape), found=str(got.shape),
                             fix="report this model version; export another one meanwhile")
    diff = float(np.max(np.abs(got - expected))) if len(expected) else 0.0
    if not diff <= tolerance:
        raise IntegrityError("the ONNX graph does not reproduce the Predictor's outputs",
                             expected=f"differences <= {tolerance:g} on {len(X)} test rows",
                             found=f"a largest difference of {diff:.3g}",
                             fix="use the Predictor bundle instead, or raise --tolerance if "
                                 "float32 rounding is acceptable for this use")
    return OnnxExport(data, len(X), diff, member.family)
