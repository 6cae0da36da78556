"""The schema as YAML a person reads and edits, and the checks an edit must pass.

A person may change a column's kind (e.g. an integer code to categorical, or a leaking column to
identifier, which leaves it out of the features), its nullability, value range, category domain
and datetime format, and the roles: time, ingestion-time and id columns. The columns themselves,
their dtypes and the target come from the data and cannot be edited.

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import infer_schema
    >>> schema = infer_schema(pd.DataFrame({"code": [1, 2, 3], "y": [0, 1, 0]}), target="y")
    >>> text = schema_to_yaml(schema).replace("kind: integer", "kind: categorical", 1)
    >>> edited = schema_from_yaml(text, schema)
    >>> str(edited.column("code").kind)
    'categorical'
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import yaml

from mlpilot.core.errors import SchemaError
from mlpilot.data.schema import TIME_KINDS, ColumnKind, ColumnSchema, Schema

_EDITABLE = ("kind", "nullable", "categories", "minimum", "maximum", "datetime_format")
_HEADER = """\
# The schema of project {project} (version {version}).
# Editable: each column's kind ({kinds}), nullable, minimum/maximum, categories,
# datetime_format; and time_column, ingestion_time_column, id_columns.
# Read-only: the column names, dtypes and the target. Kind `identifier` leaves a column out of
# the features. Each saved edit becomes a new schema version.
"""


def schema_to_yaml(schema: Schema, *, project: str = "?", version: int | str = "?") -> str:
    """YAML text of ``schema`` with a header that says what may be edited."""
    columns: dict[str, Any] = {}
    for col in schema.columns:
        data = col.to_dict()
        data.pop("name")
        columns[col.name] = {k: v for k, v in data.items()
                             if v is not None or (k in ("minimum", "maximum") and col.kind in (
                                 ColumnKind.NUMERIC, ColumnKind.INTEGER))}
    body = {"target": schema.target, "time_column": schema.time_column,
            "ingestion_time_column": schema.ingestion_time_column,
            "id_columns": list(schema.id_columns), "columns": columns}
    header = _HEADER.format(project=project, version=version,
                            kinds=", ".join(k.value for k in ColumnKind))
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


def _error(problem: str, found: str, fix: str) -> SchemaError:
    return SchemaError(f"the edited schema is not valid: {problem}",
                       expected="the YAML printed by `mlpilot schema show NAME --yaml`, with "
                       "editable fields changed", found=found, fix=fix)


def _column(name: str, data: Any, old: ColumnSchema) -> ColumnSchema:
    if not isinstance(data, dict):
        raise _error(f"column {name!r} is not a mapping", repr(data)[:80],
                     "write the column as `kind: ..., nullable: ...` fields")
    unknown = sorted(set(data) - {*_EDITABLE, "dtype"})
    if unknown:
        raise _error(f"column {name!r} has unknown fields {unknown}", ", ".join(map(str, data)),
                     f"use only {', '.join(_EDITABLE)}")
    try:
        kind = ColumnKind(str(data.get("kind", old.kind)))
    except ValueError:
        raise _error(f"column {name!r} has an unknown kind {data.get('kind')!r}",
                     f"kind {data.get('kind')!r}",
                     "use one of " + ", ".join(k.value for k in ColumnKind)) from None
    low, high = data.get("minimum"), data.get("maximum")
    for label, value in (("minimum", low), ("maximum", high)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _error(f"column {name!r}: {label} must be a number", repr(value),
                         f"write a number or null for {label}")
    if low is not None and high is not None and low > high:
        raise _error(f"column {name!r}: minimum {low} is above maximum {high}",
                     f"minimum {low}, maximum {high}", "swap or correct the bounds")
    cats = data.get("categories")
    if cats is not None and not isinstance(cats, list):
        raise _error(f"column {name!r}: categories must be a list", repr(cats)[:80],
                     "write categories as a YAML list, or null for any value")
    nullable = data.get("nullable", old.nullable)
    if not isinstance(nullable, bool):
        raise _error(f"column {name!r}: nullable must be true or false", repr(nullable),
                     "write nullable: true or nullable: false")
    return replace(old, kind=kind, nullable=nullable,
                   categories=tuple(str(c) for c in cats) if cats is not None else None,
                   minimum=None if low is None else float(low),
                   maximum=None if high is None else float(high),
                   datetime_format=data.get("datetime_format"))


def schema_from_yaml(text: str, current: Schema) -> Schema:
    """Parse an edited schema and check it against ``current``.

    Raises:
        SchemaError: the YAML does not parse, or an edit is not allowed (a column added,
            removed or renamed, the target changed, an unknown kind, a time column that is not
            a datetime, bounds out of order...). Nothing is changed.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise _error(f"the YAML does not parse at {where}",
                     str(getattr(exc, "problem", exc)), "fix the indentation or quoting there"
                     ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise _error("it has no `columns:` mapping", repr(data)[:80],
                     "start from `mlpilot schema show NAME --yaml`")
    if data.get("target", current.target) != current.target:
        raise _error(f"the target cannot change ({current.target!r} -> {data['target']!r})",
                     f"target {data['target']!r}",
                     "create a new project to predict another column")
    names, given = list(current.names), list(map(str, data["columns"]))
    if set(given) != set(names):
        added, removed = sorted(set(given) - set(names)), sorted(set(names) - set(given))
        raise _error("the columns differ from the data's", f"added {added}, removed {removed}",
                     "keep every column; set kind: identifier to leave one out of the features")
    columns = tuple(_column(n, data["columns"][n], current.column(n)) for n in names)
    target_kind = next(c.kind for c in columns if c.name == current.target)
    if target_kind in (ColumnKind.IDENTIFIER, ColumnKind.TEXT, ColumnKind.DATETIME):
        raise _error(f"the target cannot be of kind {target_kind}", f"kind {target_kind}",
                     "keep the target's kind")
    ids = data.get("id_columns") or []
    roles = {"time_column": data.get("time_column"),
             "ingestion_time_column": data.get("ingestion_time_column")}
    for role, name in [*roles.items(), *(("id_columns", i) for i in ids)]:
        if name is not None and name not in names:
            raise _error(f"{role} names {name!r}, not a column", f"{role}: {name!r}",
                         "name one of the schema's columns, or null")
    allowed = {"time_column": TIME_KINDS, "ingestion_time_column": (ColumnKind.DATETIME,)}
    for role, name in roles.items():
        if name is not None and next(c.kind for c in columns if c.name == name) not in \
                allowed[role]:
            kinds = " or ".join(str(k) for k in allowed[role])
            raise _error(f"{role} {name!r} is not a {kinds} column", f"{role}: {name!r}",
                         f"set {name!r} to kind {kinds}, or choose another column")
    return Schema(columns=columns, target=current.target, time_column=roles["time_column"],
                  id_columns=tuple(str(i) for i in ids),
                  ingestion_time_column=roles["ingestion_time_column"])
