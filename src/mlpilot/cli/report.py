"""`mlpilot report RUN`: the narrative report of a run, as HTML or Markdown."""

from __future__ import annotations

import os
import tempfile
import webbrowser
from pathlib import Path

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console
from mlpilot.core.errors import ConfigError
from mlpilot.pipeline.report import render_report
from mlpilot.store import repositories as repo


def report(run_id: str = typer.Argument(..., help="Run id or unique prefix."),
           fmt: str = typer.Option("html", "--format", help="html or md."),
           output: Path = typer.Option(None, "--output", help="Where to write (default: "
                                                              "report-RUN.html|md here)."),
           open_it: bool = typer.Option(False, "--open", help="Open it in the browser.")
           ) -> None:
    """Write the run's narrative report: problem, data, split, search history, leaderboard,
    chosen model and why, test metrics with bootstrap intervals, ROC / PR / calibration or
    residual plots, feature importance, lineage and environment. One self-contained file.

    Example: mlpilot report 3f2a9c --open
    """
    if fmt not in ("html", "md"):
        raise ConfigError("unknown report format", expected="html or md", found=fmt,
                          fix="pass --format html or --format md")
    store = open_workspace().store
    with store.transaction() as session:
        full_id = repo.get_run(session, run_id).id
    text = render_report(store, full_id, fmt)
    path = Path(output) if output else Path(f"report-{full_id}.{fmt}")
    _write_atomic(path, text)
    console.print(f"Wrote {path} ({len(text):,} characters)")
    if open_it:
        webbrowser.open(path.resolve().as_uri())


def _write_atomic(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        raise ConfigError(f"the folder {path.parent} does not exist",
                          fix="create it first, or pass another --output")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
