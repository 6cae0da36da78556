"""Opening the workspace the CLI works on ($MLPILOT_HOME, $MLPILOT_DB)."""

from __future__ import annotations

from mlpilot.pipeline.workspace import Workspace


def open_workspace() -> Workspace:
    return Workspace()
