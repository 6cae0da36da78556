"""`mlpilot model export`: a model version as ONNX for client devices, verified first."""

from __future__ import annotations

from pathlib import Path

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json
from mlpilot.core.errors import ConfigError


def export(name: str = typer.Argument(..., help="Project name."),
           version: int = typer.Argument(..., help="Model version."),
           fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
           output: Path = typer.Option(None, "--output",
                                       help="Where to write (default: NAME-vVERSION.onnx)."),
           rows: int = typer.Option(2000, "--rows", min=1,
                                    help="Test rows compared with the Predictor."),
           tolerance: float = typer.Option(1e-4, "--tolerance", min=0.0,
                                           help="Largest accepted output difference "
                                                "(relative where a value exceeds 1)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Export a model version as one ONNX graph, checked against the Predictor with onnxruntime.

    The graph takes one (n, 1) input per feature column, named like the column (double for
    numbers, booleans and datetimes as epoch seconds; string for categories and text; NaN or ''
    for missing), computes the preprocessing and every member of an ensemble or bagged model,
    and answers `prediction` (and `probabilities` for classification). Nothing is written when
    the check fails (see docs/architecture.md, Serving).

    Example: mlpilot model export flights 1 --format onnx --output flights.onnx
    """
    from mlpilot.pipeline.export import export_model

    if fmt.lower() != "onnx":
        raise ConfigError(f"unknown export format {fmt!r}", expected="onnx", found=fmt,
                          fix="pass --format onnx")
    target = output or Path(f"{name}-v{version}.onnx")
    result = export_model(open_workspace(), name, version, target, rows=rows,
                          tolerance=tolerance)
    info = {"project": name, "version": version, "format": "onnx", "output": str(target),
            "bytes": len(result.data), "family": result.family,
            "rows_checked": result.rows_checked, "max_abs_diff": result.max_abs_diff,
            "max_diff": result.max_diff, "inputs": list(result.inputs)}
    if as_json:
        print_json(info)
        return
    console.print(f"Wrote {target} ({len(result.data):,} bytes, {result.family}, "
                  f"{len(result.inputs)} column inputs); onnxruntime matches the Predictor on "
                  f"{result.rows_checked:,} test rows (largest difference "
                  f"{result.max_abs_diff:.2g})")
