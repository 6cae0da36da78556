"""`mlpilot data ...` and `mlpilot schema ...`: quality reports, new batches, the schema."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import typer

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json, table
from mlpilot.core.errors import ConfigError, DataError
from mlpilot.data.schema_yaml import schema_to_yaml
from mlpilot.pipeline import data_quality as dq
from mlpilot.pipeline.batch_ingest import IngestOutcome, ingest_batch


class BatchRejected(DataError):
    """A blocking anomaly rejected the batch; the exit status is 2."""

    exit_code = 2

    def __init__(self, outcome: IngestOutcome) -> None:
        blocking = [f for f in outcome.validation["findings"] if f["severity"] == "blocking"]
        unlabelled = any(f["check"] == "missing_target" for f in blocking)
        super().__init__(
            f"the batch {outcome.source!r} was rejected: no dataset version was made",
            expected="every schema column present, with values of the schema's types"
            + (", and the target with its values (training data)" if unlabelled else ""),
            found="; ".join(f"{f['column']}: {f['message']}" for f in blocking),
            fix=("to score rows without a target use `mlpilot predict`; to add training rows "
                 "include the target column, then " if unlabelled else "")
            + f"correct the batch and ingest it again; the report is stored as object "
            f"{outcome.report_sha256[:12]} (`mlpilot data report` shows accepted versions)")

app = typer.Typer(help="Data quality reports and new batches.", no_args_is_help=True)
schema_app = typer.Typer(help="Show and edit a project's versioned schema.",
                         no_args_is_help=True)

_STYLE = {"blocking": "bold red", "warning": "yellow", "info": "dim"}


def print_findings(title: str, findings: list[dict[str, Any]]) -> None:
    if not findings:
        console.print(f"{title}: [green]no findings[/]")
        return
    rows = [(f"[{_STYLE[f['severity']]}]{f['severity']}[/]", f["check"], f["column"] or "-",
             f["message"]) for f in findings]
    console.print(table(title, ["severity", "check", "column", "finding"], rows))


def print_drift(drift: dict[str, Any] | None) -> None:
    if not drift or not drift["columns"]:
        return
    rows = [(c["column"], c["test"], c["statistic"], c["score"], c["threshold"],
             "[yellow]drift[/]" if c["drifted"] else "ok") for c in drift["columns"]]
    verdict = "DETECTED" if drift["drift_detected"] else "not detected"
    console.print(table(f"Drift against the reference: {drift['share_drifted']:.0%} of columns "
                        f"drifted, dataset drift {verdict}",
                        ["column", "test", "statistic", "score", "threshold", "verdict"], rows))


@app.command("report")
def report(name: str = typer.Argument(..., help="Project name."),
           version: int = typer.Argument(None, help="Dataset version (default: latest)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the quality report of a dataset version (stored with the version).

    Example: mlpilot data report flights 2
    """
    ws = open_workspace()
    data = dq.dataset_report(ws.store, name, version)
    if as_json:
        print_json(data)
        return
    counts = data["counts"]
    console.print(f"[bold]{name}[/] dataset v{data['dataset_version']} (schema "
                  f"v{data['schema_version']}): {data['n_rows']:,} rows × {data['n_columns']} "
                  f"columns; {counts['warning']} warnings, {counts['info']} notes")
    console.print(table("Columns", ["column", "kind", "role", "missing", "distinct"], [
        (c["column"], c["kind"], c["role"], f"{c['missing_fraction']:.1%}", c["n_unique"])
        for c in data["columns"]]))
    print_findings("Findings", data["findings"])


@app.command("ingest")
def ingest(name: str = typer.Argument(..., help="Project name."),
           data: Path = typer.Option(..., "--data", help="The new batch, CSV or Parquet."),
           as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
           ) -> None:
    """Validate a new batch against the schema; append it as a new dataset version.

    Blocking anomalies (a required column missing, a type change, the target missing) reject
    the batch: the report is stored, no version is made, and the exit status is 2. Warnings
    (new categories, values out of range, drift) are shown and the version is made.

    Example: mlpilot data ingest flights --data april.csv --json
    """
    outcome = ingest_batch(open_workspace().store, name, data)
    if as_json:
        print_json(outcome.to_dict())
    else:
        findings = outcome.validation["findings"]
        if outcome.accepted:
            console.print(f"[green]Accepted[/] {outcome.rows:,} rows from {outcome.source}: "
                          f"dataset v{outcome.dataset_version} of [bold]{name}[/]")
        else:
            console.print(f"[bold red]Rejected[/] {outcome.rows:,} rows from {outcome.source}: "
                          f"no dataset version was made (report {outcome.report_sha256[:12]})")
        print_findings("Validation", findings)
        print_drift(outcome.validation["drift"])
    if not outcome.accepted:
        raise BatchRejected(outcome)


def _domain(col: dict[str, Any]) -> str:
    if col.get("categories") is not None:
        cats = col["categories"]
        return ", ".join(cats[:6]) + (f" … ({len(cats)})" if len(cats) > 6 else "")
    if col.get("minimum") is not None:
        return f"{col['minimum']:g} .. {col['maximum']:g}"
    return col.get("datetime_format") or "-"


@schema_app.command("show")
def show(name: str = typer.Argument(..., help="Project name."),
         version: int = typer.Option(None, "--version", help="Schema version (default: "
                                                             "latest)."),
         as_yaml: bool = typer.Option(False, "--yaml", help="Print the editable YAML."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a project's schema: each column's kind, nullability, range or domain, role.

    Example: mlpilot schema show flights --yaml > schema.yaml
    """
    ws = open_workspace()
    number, schema = dq.get_schema(ws.store, name, version)
    if as_yaml:
        typer.echo(schema_to_yaml(schema, project=name, version=number), nl=False)
        return
    history = dq.schema_history(ws.store, name)
    if as_json:
        print_json({"project": name, "version": number, "schema": schema.to_dict(),
                    "hash": schema.hash, "versions": history})
        return
    features = set(schema.feature_columns)
    roles = {schema.target: "target", schema.time_column: "time",
             schema.ingestion_time_column: "ingestion time"}
    console.print(table(f"Schema of {name}, version {number} of {len(history)}",
                        ["column", "kind", "dtype", "nullable", "range / domain / format",
                         "role"],
                        [(c.name, c.kind, c.dtype, c.nullable, _domain(c.to_dict()),
                          roles.get(c.name) or ("feature" if c.name in features
                                                else "ignored"))
                         for c in schema.columns]))


def _edit_in_editor(text: str) -> str:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise ConfigError("no editor to open the schema in",
                          expected="$EDITOR (or $VISUAL) set, or --file",
                          found="neither EDITOR nor VISUAL is set",
                          fix="run `mlpilot schema show NAME --yaml > s.yaml`, edit it, then "
                          "`mlpilot schema edit NAME --file s.yaml`")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "schema.yaml"
        path.write_text(text, encoding="utf-8")
        code = subprocess.call([*shlex.split(editor), str(path)])
        if code != 0:
            raise ConfigError(f"the editor exited with status {code}; nothing was changed",
                              fix="save and quit the editor normally")
        return path.read_text(encoding="utf-8")


@schema_app.command("edit")
def edit(name: str = typer.Argument(..., help="Project name."),
         file: Path = typer.Option(None, "--file", help="Edited YAML (default: open $EDITOR)."),
         note: str = typer.Option(None, "--note", help="Why the schema changed."),
         as_json: bool = typer.Option(False, "--json", help="Print the new version as JSON.")
         ) -> None:
    """Edit the schema as YAML; each saved edit becomes a new schema version.

    Example: mlpilot schema edit flights --file schema.yaml --note "flight is a code"
    """
    ws = open_workspace()
    number, schema = dq.get_schema(ws.store, name)
    original = schema_to_yaml(schema, project=name, version=number)
    if file is None:
        text = _edit_in_editor(original)
        if text == original:
            console.print("No changes: the schema stays at version " + str(number))
            return
    else:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"cannot read the schema file {str(file)!r}",
                              found=f"{type(exc).__name__}: {exc}",
                              fix="pass a UTF-8 YAML file") from exc
    version, edited = dq.edit_schema(ws.store, name, text, note)
    if as_json:
        print_json({"project": name, "version": version, "schema": edited.to_dict(),
                    "hash": edited.hash})
        return
    console.print(f"[green]Saved[/] schema version {version} of [bold]{name}[/] "
                  f"({len(edited.feature_columns)} features), carried by a new dataset version; "
                  f"the next run uses it.")
