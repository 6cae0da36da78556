"""`mlpilot predict`: score a file with a progress bar; warnings on stderr as they happen."""

from __future__ import annotations

import warnings
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, err_console
from mlpilot.pipeline.predict import TargetColumnIgnored


def _show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    err_console.print(f"[bold yellow]Warning:[/] {message}", highlight=False, soft_wrap=True)


def predict_with_progress(name: str, source: Path, output: Path, version: int | None,
                          chunk_rows: int, threads: int | None = None) -> None:
    """Score ``source`` in chunks with a progress bar (plain lines off a terminal)."""
    project = open_workspace().project(name)
    with warnings.catch_warnings():
        warnings.simplefilter("always", TargetColumnIgnored)
        warnings.showwarning = _show
        with Progress(TextColumn("[bold]predict[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("rows"), TimeElapsedColumn(), console=console,
                      disable=not console.is_terminal) as bar:
            task = bar.add_task("rows", total=None)

            def advance(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = project.predict_file(source, output, version, chunk_rows=chunk_rows,
                                          on_progress=advance, threads=threads)
    console.print(f"Wrote {result.rows:,} predictions to {result.output}")
