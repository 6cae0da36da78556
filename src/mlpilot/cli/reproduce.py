"""`mlpilot reproduce RUN` and `mlpilot reproduce --bundle FILE`: re-create a run, compare."""

from __future__ import annotations

from pathlib import Path

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json, table
from mlpilot.core.errors import ConfigError
from mlpilot.pipeline.bundle import import_bundle, read_bundle
from mlpilot.pipeline.manifest import Difference
from mlpilot.pipeline.reproduce import Reproduction, reproduce_recorded, reproduce_run


def reproduce(
    run_id: str = typer.Argument(None, help="Run id or unique prefix (omit with --bundle)."),
    bundle: Path = typer.Option(None, "--bundle", help="Re-create the run of this bundle "
                                                       "(from `mlpilot export`) here."),
    from_scratch: bool = typer.Option(False, "--from-scratch",
                                      help="Search again instead of replaying the recorded "
                                           "trials (runs with --max-trials only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Re-create a run into a new run and say whether it is identical, to the bit.

    First lists every difference between the recorded and the current environment (package
    by package), then replays the recorded trial sequence (same families, parameters and
    seeds) and compares the split, trial scores, model artifact sha256, test predictions (bit
    for bit) and test metrics. Exits 0 when identical, 3 when different.

    Example: mlpilot reproduce 3f2a9c --from-scratch
    """
    if (run_id is None) == (bundle is None):
        raise ConfigError("reproduce needs either a run id or --bundle FILE, not both",
                          found=f"run {run_id!r}, bundle {bundle}",
                          fix="`mlpilot reproduce RUN` or `mlpilot reproduce --bundle b.tar.gz`")
    ws = open_workspace()
    printer = None if as_json else _print_environment
    if bundle is not None:
        recorded = import_bundle(ws.store, read_bundle(bundle))
        if not as_json:
            console.print(f"Re-created project [bold]{recorded.project}[/] from {bundle} in "
                          f"workspace {ws.home}")
        result = reproduce_recorded(ws.store, recorded, from_scratch=from_scratch,
                                    on_environment=printer)
    else:
        result = reproduce_run(ws.store, run_id, from_scratch=from_scratch,
                               on_environment=printer)
    if as_json:
        print_json(result.to_dict())
    else:
        print_verdict(result)
    if not result.identical:
        raise typer.Exit(3)


def _print_environment(differences: list[Difference]) -> None:
    if not differences:
        console.print("Environment: [green]no differences[/] from the recorded one "
                      "(Python, platform, CPU, threads and every package)")
        return
    console.print(table(f"Environment: {len(differences)} difference(s) from the recorded one",
                        ["what", "recorded", "now"],
                        [(d.field, d.recorded, d.current) for d in differences]))


def print_verdict(result: Reproduction) -> None:
    console.print(f"Manifest: {result.manifest_check}")
    console.print(table(f"Run {result.original_run} re-created as run {result.new_run} "
                        f"({result.mode}, model v{result.model_version})",
                        ["aspect", "same", "detail"],
                        [(c.aspect, "yes" if c.identical else "NO", c.detail)
                         for c in result.comparisons]))
    if result.identical:
        console.print("Verdict: [bold green]identical[/]")
    else:
        console.print(f"Verdict: [bold red]different[/] in {', '.join(result.where)}")
