"""`mlpilot model ...`: list, show, promote, rollback."""

from __future__ import annotations

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json, table

app = typer.Typer(help="The model registry: list, show, promote, roll back.",
                  no_args_is_help=True)


@app.command("list")
def list_models(name: str = typer.Argument(..., help="Project name."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the registered model versions of a project.

    Example: mlpilot model list flights
    """
    models = [m.to_dict() for m in open_workspace().project(name).models()]
    if as_json:
        print_json(models)
        return
    console.print(table(f"Models of {name}", ["version", "family", "metric", "test score",
                                               "run", "created", "champion"],
                        [(m["version"], m["family"], m["metric"], m["test_score"],
                          m["run_id"], m["created_at"], "★" if m["champion"] else "")
                         for m in models]))


@app.command("show")
def show(name: str = typer.Argument(..., help="Project name."),
         version: int = typer.Argument(..., help="Model version number."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a model version: test metrics, baseline, lineage, artifact hash.

    Example: mlpilot model show flights 1
    """
    model = open_workspace().project(name).model(version)
    info = model.to_dict()
    if as_json:
        print_json(info)
        return
    lineage = model.lineage
    console.print(table(f"Model {name} v{version}" + (" (champion)" if model.is_champion
                                                      else ""), ["field", "value"], [
        ("family", model.family), ("artifact sha256", model.artifact_sha256),
        ("run", model.run_id), ("trial", f"#{lineage['trial']['number']} "
                                         f"seed {lineage['trial']['seed']}"),
        ("params", lineage["trial"]["params"]),
        ("dataset", f"v{lineage['dataset']['version']} {lineage['dataset']['sha256'][:12]}"),
        ("split", f"{lineage['split']['method']} {lineage['split']['hash'][:12]}"),
        ("created", info["created_at"])]))
    test, base = model.metrics["test"], model.metrics["baseline"]
    console.print(table("Test metrics", ["metric", "model", "baseline"],
                        [(k, v, base.get(k)) for k, v in test.items()]))


@app.command("promote")
def promote(name: str = typer.Argument(..., help="Project name."),
            version: int = typer.Argument(..., help="Version to make champion."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Make a model version the champion (the move is recorded in the audit log).

    Example: mlpilot model promote flights 2
    """
    move = open_workspace().project(name).promote(version)
    if as_json:
        print_json(move)
        return
    console.print(f"[green]champion[/] of {name}: v{move['previous']} → v{move['version']}")


@app.command("rollback")
def rollback(name: str = typer.Argument(..., help="Project name."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Point champion back at the version it had before its last promotion.

    Example: mlpilot model rollback flights
    """
    move = open_workspace().project(name).rollback()
    if as_json:
        print_json(move)
        return
    console.print(f"[yellow]champion[/] of {name} rolled back: v{move['previous']} → "
                  f"v{move['version']}")
