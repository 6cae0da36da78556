"""The `mlpilot` command: one Typer app with a sub-app per noun.

Every failure prints one paragraph (what was wrong, what was expected, the fix) on stderr and
exits non-zero; no traceback reaches the user for an error mlpilot anticipated.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path

import click
import typer

from mlpilot.cli import apikey, models, project, runs
from mlpilot.cli import audit as audit_cli
from mlpilot.cli import bundle as bundle_cli
from mlpilot.cli import data as data_cli
from mlpilot.cli import demo as demo_module
from mlpilot.cli import export as export_module
from mlpilot.cli import lineage as lineage_cli
from mlpilot.cli import report as report_cli
from mlpilot.cli import reproduce as reproduce_cli
from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import print_error, print_json
from mlpilot.cli.runs import print_leaderboard
from mlpilot.core.errors import MlpilotError

app = typer.Typer(
    name="mlpilot",
    help="A tabular machine-learning project on autopilot. Start with `mlpilot demo`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(project.app, name="project")
app.add_typer(runs.app, name="run")
app.add_typer(models.app, name="model")
app.add_typer(data_cli.app, name="data")
app.add_typer(data_cli.schema_app, name="schema")
app.command("demo")(demo_module.demo)
app.add_typer(audit_cli.app, name="audit")
app.command("reproduce")(reproduce_cli.reproduce)
app.command("export")(bundle_cli.export)
app.command("lineage")(lineage_cli.lineage)
app.command("report")(report_cli.report)
app.add_typer(apikey.app, name="apikey")
models.app.command("export")(export_module.export)


@app.command("leaderboard")
def leaderboard(name: str = typer.Argument(..., help="Project name."),
                run_id: str = typer.Option(None, "--run", help="Run id (default: latest)."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the trials of a run, best validation score first (baseline included).

    Example: mlpilot leaderboard flights
    """
    proj = open_workspace().project(name)
    if as_json:
        print_json([t.to_dict() for t in proj.leaderboard(run_id)])
        return
    print_leaderboard(proj, run_id)


@app.command("predict")
def predict(name: str = typer.Argument(..., help="Project name."),
            input_path: Path = typer.Option(..., "--input", help="CSV or Parquet to score."),
            output: Path = typer.Option(..., "--output", help="Where to write (.csv/.parquet)."),
            version: int = typer.Option(None, "--version", help="Model version (default: "
                                                                "champion)."),
            chunk_rows: int = typer.Option(100_000, "--chunk-rows", min=1,
                                           help="Rows scored per chunk (bounds memory)."),
            threads: int = typer.Option(None, "--threads", min=1,
                                        help="Scoring threads (default: one per core "
                                             "this process may use).")
            ) -> None:
    """Score a file with the champion, streamed in chunks: one output row per input row
    (`prediction`, then `proba_<class>` per class). A target column in the file is ignored
    with a warning. The answer is the same whatever the number of threads.

    Example: mlpilot predict flights --input new.parquet --output preds.parquet --threads 2
    """
    from mlpilot.cli.predict import predict_with_progress

    predict_with_progress(name, input_path, output, version, chunk_rows, threads)


@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
          port: int = typer.Option(8000, "--port", help="Port to listen on."),
          workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
          no_auth: bool = typer.Option(False, "--no-auth",
                                       help="Serve without API keys (local use only)."),
          strict: bool = typer.Option(True, "--strict/--no-strict",
                                      help="Reject unknown columns (422) or ignore them."),
          batch_max_size: int = typer.Option(64, "--batch-max-size", min=1,
                                             help="Most rows per micro-batch (1: off)."),
          batch_max_wait_ms: float = typer.Option(0.0, "--batch-max-wait-ms", min=0.0,
                                                  help="Longest wait for a fuller batch."),
          refresh_seconds: float = typer.Option(1.0, "--refresh-seconds", min=0.05,
                                                help="How often champion moves are read."),
          log_fsync: bool = typer.Option(False, "--log-fsync",
                                         help="fsync the prediction log before answering.")
          ) -> None:
    """Serve every project's champion over REST (OpenAPI docs at /docs).

    Example: mlpilot serve --port 8000, then POST /v1/projects/flights/predict
    """
    from mlpilot.cli.serving import run_server
    from mlpilot.server.config import ServeConfig

    run_server(ServeConfig(auth=not no_auth, strict=strict, batch_max_size=batch_max_size,
                           batch_max_wait_ms=batch_max_wait_ms,
                           refresh_seconds=refresh_seconds, log_fsync=log_fsync),
               host=host, port=port, workers=workers)


def _click_exceptions() -> list[object]:
    """click's exceptions module, and the copy of click that Typer (0.29 on) vendors and
    raises its usage errors from (an unknown command raises that copy's UsageError)."""
    modules: list[object] = [click.exceptions]
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        return modules
    return [*modules, vendored]


def _classes(name: str) -> tuple[type[BaseException], ...]:
    return tuple(getattr(m, name) for m in _click_exceptions() if hasattr(m, name))


_ABORT, _USAGE, _EXIT = _classes("Abort"), _classes("ClickException"), _classes("Exit")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn anticipated errors into one clear paragraph."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="mlpilot", standalone_mode=False)
    except MlpilotError as exc:
        print_error(exc.message)
        return exc.exit_code
    except _ABORT:
        print_error("aborted")
        return 130
    except _USAGE as exc:
        exc.show()
        return int(exc.exit_code)
    except _EXIT as exc:
        return int(exc.exit_code)
    # without standalone mode click returns a command's `typer.Exit(code)` instead of raising
    return code if isinstance(code, int) else 0


def entrypoint() -> None:
    """Console-script entry point.

    When the command has finished, the process ends without the interpreter's teardown:
    freeing every module and object of the ML libraries took 0.6-1 s (measured on `mlpilot
    predict`), more than many commands themselves. The atexit handlers run and the standard
    streams are flushed first, so nothing a command registered or printed is lost; a command
    that leaves a non-daemon thread running gets the normal exit, which waits for it.
    """
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
