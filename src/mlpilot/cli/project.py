"""`mlpilot project ...`: create, approve, list, show."""

from __future__ import annotations

from pathlib import Path

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json, table
from mlpilot.core.budget import format_duration

app = typer.Typer(help="Create projects, approve their budgets, list and show them.",
                  no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Project name: lower-case letters, digits, - and _."),
    data: Path = typer.Option(..., "--data", help="Training table, CSV or Parquet."),
    target: str = typer.Option(..., "--target", help="The column to predict."),
    metric: str = typer.Option(None, "--metric",
                               help="roc_auc, log_loss, accuracy, f1, rmse, mae, r2, ..."),
    task: str = typer.Option(None, "--task",
                             help="binary, multiclass or regression (detected if omitted)."),
    time_column: str = typer.Option(None, "--time-column",
                                    help="A datetime column, or an integer period such as "
                                         "year: the split and validation become "
                                         "time-ordered."),
    id_columns: str = typer.Option(None, "--id-columns",
                                   help="Comma-separated identifier columns (never features)."),
    seed: int = typer.Option(0, "--seed", help="The seed every random choice derives from."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Register a problem: ingest the table, infer its schema, propose a budget.

    Example: mlpilot project create flights --data examples/flights_sample.parquet --target delayed
    """
    ws = open_workspace()
    ids = tuple(c.strip() for c in id_columns.split(",") if c.strip()) if id_columns else ()
    project = ws.create_project(name, data, target, task=task, metric=metric,
                                time_column=time_column, id_columns=ids, seed=seed)
    info = project.to_dict()
    if as_json:
        print_json(info)
        return
    ds = info["dataset"]
    spec = project.proposed_budget
    console.print(f"[green]Created project[/] [bold]{name}[/]: {ds['rows']:,} rows × "
                  f"{ds['columns']} columns, dataset v{ds['version']} ({ds['sha256'][:12]})")
    console.print(f"Task [bold]{project.config.task}[/], metric [bold]{project.config.metric}"
                  f"[/], {len(project.schema.feature_columns)} features, target "
                  f"[bold]{project.config.target}[/]")
    console.print(f"Proposed budget: [bold]{format_duration(spec.time_seconds)}[/] wall time, "
                  f"{spec.cpus} CPUs, peak memory ≈ {spec.memory_mb:,} MB")
    console.print(f"Approve it with:  [bold]mlpilot project approve {name}[/]  "
                  f"(or e.g. --time 5m --cpus 2)")


@app.command("approve")
def approve(
    name: str = typer.Argument(..., help="Project name."),
    time: str = typer.Option(None, "--time", help="Wall time, e.g. 90s, 5m, 1h (default: "
                                                  "the proposal)."),
    cpus: int = typer.Option(None, "--cpus", help="CPUs (default: the proposal)."),
    memory: int = typer.Option(None, "--memory", help="Peak memory in MB (default: the "
                                                      "proposal)."),
    as_json: bool = typer.Option(False, "--json", help="Print the approval as JSON."),
) -> None:
    """Approve the proposed budget (or a changed one); records who approved what, when.

    Example: mlpilot project approve flights --time 5m --cpus 2
    """
    project = open_workspace().project(name)
    spec = project.approve(time=time, cpus=cpus, memory_mb=memory)
    approval = project.approval() or {}
    if as_json:
        print_json(approval)
        return
    console.print(f"[green]Approved[/] for [bold]{name}[/]: {spec.describe()} "
                  f"(by {approval['approved_by']} at {approval['approved_at']})")
    console.print(f"Start the run with:  [bold]mlpilot run {name}[/]")


@app.command("list")
def list_projects(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the projects of the workspace.

    Example: mlpilot project list --json
    """
    projects = [p.to_dict() for p in open_workspace().projects()]
    if as_json:
        print_json(projects)
        return
    if not projects:
        console.print("No projects yet. Create one with `mlpilot project create NAME --data "
                      "FILE --target COLUMN`, or try `mlpilot demo`.")
        return
    console.print(table("Projects", ["name", "task", "target", "metric", "rows", "approved",
                                     "champion", "runs"],
                        [(p["name"], p["task"], p["target"], p["metric"], p["dataset"]["rows"],
                          "yes" if p["approved_budget"] else "no", p["champion"], p["runs"])
                         for p in projects]))


@app.command("show")
def show(name: str = typer.Argument(..., help="Project name."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a project: problem, data, schema, budget, champion.

    Example: mlpilot project show flights
    """
    project = open_workspace().project(name)
    info = project.to_dict()
    info["schema"] = project.schema.to_dict()
    info["approval"] = project.approval()
    if as_json:
        print_json(info)
        return
    console.print(table(f"Project {name}", ["field", "value"], [
        ("task", info["task"]), ("target", info["target"]), ("metric", info["metric"]),
        ("time column", info["time_column"]), ("id columns", ", ".join(info["id_columns"])),
        ("seed", info["seed"]),
        ("dataset", f"v{info['dataset']['version']} {info['dataset']['rows']:,} rows, "
                    f"{info['dataset']['sha256'][:12]}"),
        ("proposed budget", project.proposed_budget.describe()),
        ("approved budget", project.approved_budget.describe() if project.approved_budget
         else "not approved"),
        ("champion", f"v{info['champion']}" if info["champion"] else "-"),
        ("runs / models", f"{info['runs']} / {info['models']}"),
    ]))
    features = set(project.schema.feature_columns)
    console.print(table("Schema", ["column", "kind", "dtype", "nullable", "role"], [
        (c.name, c.kind, c.dtype, c.nullable,
         "target" if c.name == info["target"] else "feature" if c.name in features else "ignored")
        for c in project.schema.columns]))
