"""Exporting a registered model version: ONNX, verified on the version's own test rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpilot.data.sources import parquet_bytes_to_table
from mlpilot.models.onnx_export import OnnxExport, export_onnx
from mlpilot.pipeline.workspace import ModelVersion, Workspace
from mlpilot.store.audit import append_event

TEST = 2


def test_rows(workspace: Workspace, model: ModelVersion, limit: int = 2000) -> pd.DataFrame:
    """The first ``limit`` test rows of the split ``model`` was evaluated on."""
    store = workspace.store
    frame = parquet_bytes_to_table(store.objects.get(model.lineage["dataset"]["sha256"]))
    target = model.load().schema.target
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    assignment = np.frombuffer(store.objects.get(model.lineage["split"]["object"]),
                               dtype=np.int8)
    return labelled[assignment == TEST].head(limit).reset_index(drop=True)


def export_model(workspace: Workspace, project: str, version: int, output: Path, *,
                 rows: int = 2000, tolerance: float = 1e-4) -> OnnxExport:
    """Write ``version`` of ``project`` as ONNX to ``output`` after checking it on test rows."""
    model = workspace.project(project).model(version)
    result = export_onnx(model.load(), test_rows(workspace, model, rows), tolerance=tolerance)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_bytes(result.data)
    tmp.replace(output)
    with workspace.store.transaction() as session:
        append_event(session, "model.exported",
                     {"version": version, "format": "onnx", "output": str(output),
                      "rows_checked": result.rows_checked, "max_abs_diff": result.max_abs_diff},
                     project=project)
    return result
