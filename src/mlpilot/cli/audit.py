"""`mlpilot audit NAME` lists a project's events; `mlpilot audit verify` checks the chain."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, err_console, print_json, table
from mlpilot.pipeline.audit_check import verify_workspace


class _ListByDefault(TyperGroup):
    """`mlpilot audit flights` means `mlpilot audit list flights`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_ListByDefault, no_args_is_help=True,
                  help="The audit log: list events (`mlpilot audit NAME`), verify the chain.")


@app.command("list")
def list_events(name: str = typer.Argument(..., help="Project name."),
                action: str = typer.Option(None, "--action",
                                           help="Only events whose action starts with this."),
                limit: int = typer.Option(None, "--limit", min=1, help="Only the last N."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List a project's events, oldest first: action, actor, time and payload hash.

    Example: mlpilot audit flights --action model.
    """
    ws = open_workspace()
    ws.project(name)  # NotFoundError naming the projects for a typo
    events = [e for e in ws.events(name) if action is None or e["action"].startswith(action)]
    if limit:
        events = events[-limit:]
    if as_json:
        print_json(events)
        return
    console.print(table(f"Audit log of {name}", ["#", "at (UTC)", "actor", "action",
                                                  "payload", "hash"],
                        [(e["seq"], e["at"], e["actor"], e["action"], _short(e["payload"]),
                          e["hash"][:12]) for e in events]))


def _short(payload: dict) -> str:
    def value(v: object) -> str:
        text = str(v)
        return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) \
            else text

    text = ", ".join(f"{k}={value(v)}" for k, v in payload.items()
                     if not isinstance(v, dict | list))
    return text[:70] + ("…" if len(text) > 70 else "")


@app.command("verify")
def verify(objects: bool = typer.Option(True, "--objects/--no-objects",
                                        help="Also re-hash every object records refer to."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check the whole hash chain (and, by default, every referenced object and run
    manifest); exits 1 naming the first broken event or object.

    Example: mlpilot audit verify
    """
    report = verify_workspace(open_workspace().store, objects=objects)
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(f"[green]ok[/]: {report.events} events chained, {report.objects} "
                      f"objects and {report.manifests} run manifests match their hashes")
    else:
        for problem in report.problems:
            err_console.print(f"[bold red]broken:[/] {problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
