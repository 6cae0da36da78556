"""`mlpilot export RUN bundle.tar.gz`: what a third party needs to re-create a run."""

from __future__ import annotations

from pathlib import Path

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json
from mlpilot.pipeline.bundle import export_bundle


def export(run_id: str = typer.Argument(..., help="Run id or unique prefix."),
           path: Path = typer.Argument(..., help="Bundle to write (.tar.gz)."),
           as_json: bool = typer.Option(False, "--json", help="Print the file list as JSON.")
           ) -> None:
    """Pack a run (data versions, schema, configuration, manifest, split, trials, model,
    reports, audit events) into one verified bundle; written atomically.

    Example: mlpilot export 3f2a9c flights-run1.tar.gz
    """
    result = export_bundle(open_workspace().store, run_id, path)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"Wrote {result.path} ({result.bytes:,} bytes, {len(result.files)} files, "
                  f"sha256 {result.sha256[:16]}…). Re-create it anywhere with "
                  f"`MLPILOT_HOME=fresh mlpilot reproduce --bundle {result.path}`")
