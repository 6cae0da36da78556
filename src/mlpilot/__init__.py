"""mlpilot: a tabular machine-learning project on autopilot.

The public API mirrors the CLI: :class:`Workspace`, :class:`Project`, :class:`Run`,
:class:`ModelVersion`, and the :class:`Predictor` artifact. Names load lazily so that
``import mlpilot.core`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "mlpilot.pipeline.workspace",
    "Project": "mlpilot.pipeline.workspace",
    "Run": "mlpilot.pipeline.workspace",
    "ModelVersion": "mlpilot.pipeline.workspace",
    "Predictor": "mlpilot.models.predictor",
    "BudgetSpec": "mlpilot.core.budget",
    "MlpilotError": "mlpilot.core.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlpilot' has no attribute {name!r}")
    return getattr(import_module(module), name)
