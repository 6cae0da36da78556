"""Request models generated from a training schema, and their OpenAPI documents.

Each feature becomes a typed field: numbers are JSON numbers, whole numbers JSON integers,
booleans JSON booleans, categories and text strings, dates ISO 8601 strings. A column that had
missing values in training is optional (absent or null means missing, handled as in training);
any other feature is required. Id columns are accepted and ignored. The target is an error in
every mode (it is what the model predicts: a client that sends it is sending training rows) and
is not a property of the documented model. In strict mode any other key is an error; otherwise
it is dropped.

A body is either one record (an object of features) or ``{"records": [...]}``. Invalid bodies
give one error entry per bad field, FastAPI's 422 shape.

Example:
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> schema = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", True),
    ...                          ColumnSchema("city", ColumnKind.CATEGORICAL, "str", False),
    ...                          ColumnSchema("churn", ColumnKind.BOOLEAN, "bool", False)),
    ...                 target="churn")
    >>> body = RequestBody.build("churn", schema, strict=True)
    >>> body.parse(b'{"age": 31, "city": "Lyon"}')
    [{'age': 31, 'city': 'Lyon'}]
    >>> try:
    ...     body.parse(b'{"records": [{"age": "x", "zip": 1, "churn": true}]}')
    ... except InvalidBody as exc:
    ...     [(e["loc"][-1], e["type"]) for e in exc.errors]
    [('age', 'int_type'), ('city', 'missing'), ('churn', 'target_not_allowed'), \
('zip', 'extra_forbidden')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema

MAX_RECORDS = 10_000
_TYPES: dict[ColumnKind, Any] = {
    ColumnKind.NUMERIC: StrictFloat | StrictInt,
    ColumnKind.INTEGER: StrictInt,
    ColumnKind.BOOLEAN: StrictBool,
    ColumnKind.CATEGORICAL: StrictStr,
    ColumnKind.TEXT: StrictStr,
    ColumnKind.DATETIME: datetime,
}


class InvalidBody(ValueError):
    """A request body that does not fit the request model; ``errors`` in FastAPI's shape."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def model_name(project: str, suffix: str) -> str:
    """A component name for ``project``: ``flights`` -> ``FlightsRecord``."""
    words = re.split(r"[^0-9A-Za-z]+", project)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + suffix


def _describe(col: ColumnSchema) -> str:
    text = f"{col.kind} feature (training dtype {col.dtype})"
    if col.minimum is not None and col.maximum is not None:
        text += f"; seen in training from {col.minimum:g} to {col.maximum:g}"
    if col.categories:
        shown = ", ".join(col.categories[:12]) + (" ..." if len(col.categories) > 12 else "")
        text += f"; training levels: {shown} (unseen levels are accepted)"
    return text + ("; optional: absent or null means missing" if col.nullable else "")


def _field(col: ColumnSchema) -> tuple[Any, Any]:
    kind = _TYPES.get(col.kind, StrictStr)
    if col.nullable:
        return kind | None, Field(None, description=_describe(col))
    return kind, Field(..., description=_describe(col))


def _target_field(target: str) -> tuple[Any, Any]:
    """A field that fails whenever ``target`` is sent (even as null), left out of the JSON
    schema: the target is what the model predicts, never an input."""
    message = (f"{target!r} is the target column: it is what the model predicts, so "
               "prediction requests must not send it; remove it from the record")

    def refuse(value: Any) -> Any:
        raise PydanticCustomError("target_not_allowed", message)
    return SkipJsonSchema[Annotated[Any, BeforeValidator(refuse)]], Field(None)


@dataclass(frozen=True)
class RequestBody:
    """The request models of one project's schema and a fast parser for raw bodies."""

    record: type[BaseModel]
    records: type[BaseModel]
    adapter: TypeAdapter[Any]
    features: tuple[str, ...]
    target: str

    @classmethod
    def build(cls, project: str, schema: Schema, *, strict: bool = True) -> RequestBody:
        """Generate the models for ``schema`` (``strict``: unknown keys are errors)."""
        fields: dict[str, Any] = {c.name: _field(c) for c in schema.features}
        fields[schema.target] = _target_field(schema.target)
        for name in schema.names:
            if name not in fields:
                fields[name] = (Any, Field(None, description="not a feature: accepted, ignored"))
        config = ConfigDict(extra="forbid" if strict else "ignore")
        record = create_model(model_name(project, "Record"), __config__=config,
                              __doc__=f"One row to score with the champion of {project!r}.",
                              **fields)
        records = create_model(
            model_name(project, "Records"), __config__=ConfigDict(extra="forbid"),
            __doc__="Many rows to score, answered in order.",
            records=(list[record], Field(..., min_length=1, max_length=MAX_RECORDS)))
        union = Annotated[Annotated[records, Tag("many")] | Annotated[record, Tag("one")],
                          Discriminator(_shape)]
        return cls(record, records, TypeAdapter(union), schema.feature_columns, schema.target)

    def parse(self, body: bytes) -> list[dict[str, Any]]:
        """The feature dicts of a raw JSON body; InvalidBody listing every bad field."""
        try:
            value = self.adapter.validate_json(body)
        except ValidationError as exc:
            raise InvalidBody([_entry(e) for e in exc.errors(include_url=False)]) from None
        rows = value.records if isinstance(value, self.records) else [value]
        features = self.features
        return [{name: getattr(row, name) for name in features} for row in rows]

    def json_schema(self) -> dict[str, Any]:
        """The body's JSON schema with ``$defs`` (for the OpenAPI components)."""
        return TypeAdapter(self.records | self.record).json_schema(
            ref_template="#/components/schemas/{model}")


def _shape(value: Any) -> Literal["many", "one"]:
    if isinstance(value, dict) and isinstance(value.get("records"), list):
        return "many"
    return "one"


def _entry(error: Any) -> dict[str, Any]:
    loc = [part for part in error["loc"] if part not in ("many", "one")]
    out = {"loc": ["body", *loc], "msg": error["msg"], "type": error["type"]}
    if error["type"] != "missing" and isinstance(error.get("input"), str | int | float | bool):
        out["input"] = error["input"]
    return out
