"""`mlpilot lineage NAME VERSION`: the graph from data to model to alias events."""

from __future__ import annotations

import typer
from rich.tree import Tree

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json
from mlpilot.pipeline.lineage import model_lineage


def lineage(name: str = typer.Argument(..., help="Project name."),
            version: int = typer.Argument(None, help="Model version (default: champion)."),
            as_json: bool = typer.Option(False, "--json", help="Print nodes and edges.")
            ) -> None:
    """Show how a model version came to be: dataset versions -> split -> run -> trials ->
    model -> evaluation -> alias events; flags the model stale when newer data or a changed
    schema exists.

    Example: mlpilot lineage flights 2
    """
    ws = open_workspace()
    if version is None:
        version = ws.project(name).model(None).version
    graph = model_lineage(ws.store, name, version)
    if as_json:
        print_json(graph.to_dict())
        return
    title = f"[bold]{name}[/] model v{version}" + (" (champion)" if graph.champion else "")
    tree = Tree(title)
    branch = tree
    for node in graph.nodes:
        if node.kind == "alias":
            continue
        branch = branch.add(f"[cyan]{node.kind}[/] {node.label}")
    for node in graph.node("alias"):
        branch.add(f"[magenta]event[/] {node.label}")
    console.print(tree)
    if graph.stale:
        for reason in graph.stale_reasons:
            console.print(f"[bold yellow]stale:[/] {reason}")
    else:
        console.print("[green]current:[/] built on the latest dataset version and schema")
