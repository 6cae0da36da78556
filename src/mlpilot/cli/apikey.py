"""`mlpilot apikey ...`: create (the key is shown once), list, revoke."""

from __future__ import annotations

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json, table
from mlpilot.pipeline import apikeys

app = typer.Typer(help="API keys for `mlpilot serve`: create, list, revoke.",
                  no_args_is_help=True)


@app.command("create")
def create(name: str = typer.Option(..., "--name", help="A name for the key (e.g. ci)."),
           scope: str = typer.Option("predict", "--scope",
                                     help="predict (predict, feedback) or admin (all)."),
           as_json: bool = typer.Option(False, "--json", help='Print {"name", "key"}.')) -> None:
    """Create an API key; the key is shown once and only its sha256 is stored.

    Example: mlpilot apikey create --name ci --scope predict --json
    """
    created = apikeys.create_key(open_workspace().store, name, scope)
    if as_json:
        print_json({"name": created.name, "key": created.key, "scope": created.scope})
        return
    console.print(f"API key [bold]{created.name}[/] (scope {created.scope}): {created.key}",
                  highlight=False, soft_wrap=True)
    console.print("Store it now: it is not shown again. Clients send "
                  "`Authorization: Bearer KEY`.")


@app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List API keys (names and scopes; the keys themselves are never stored).

    Example: mlpilot apikey list
    """
    keys = [k.to_dict() for k in apikeys.list_keys(open_workspace().store)]
    if as_json:
        print_json(keys)
        return
    console.print(table("API keys", ["name", "scope", "created", "by", "revoked"],
                        [(k["name"], k["scope"], k["created_at"], k["created_by"],
                          k["revoked_at"]) for k in keys]))


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="Name of the key.")) -> None:
    """Revoke an API key: servers refuse it within their key cache time (10 s).

    Example: mlpilot apikey revoke ci
    """
    key = apikeys.revoke_key(open_workspace().store, name)
    console.print(f"API key {key.name} revoked at {key.to_dict()['revoked_at']}")
