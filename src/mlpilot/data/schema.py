"""The schema of a training table: one typed column spec per column, plus the roles of columns.

Example:
    >>> s = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", False),
    ...                     ColumnSchema("city", ColumnKind.CATEGORICAL, "str", True,
    ...                                  categories=("Boston", "Lyon")),
    ...                     ColumnSchema("churn", ColumnKind.BOOLEAN, "bool", False)),
    ...            target="churn")
    >>> s.feature_columns
    ('age', 'city')
    >>> Schema.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from mlpilot.core.errors import SchemaError
from mlpilot.core.hashing import hash_json


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"


@dataclass(frozen=True)
class ColumnSchema:
    """One column: its kind, the pandas dtype it was read with, nullability and observed domain."""

    name: str
    kind: ColumnKind
    dtype: str
    nullable: bool
    categories: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": str(self.kind),
            "dtype": self.dtype,
            "nullable": self.nullable,
            "categories": list(self.categories) if self.categories is not None else None,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSchema:
        cats = data.get("categories")
        return cls(
            name=data["name"],
            kind=ColumnKind(data["kind"]),
            dtype=data["dtype"],
            nullable=bool(data["nullable"]),
            categories=tuple(cats) if cats is not None else None,
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
        )


@dataclass(frozen=True)
class Schema:
    """All columns of the training table in order, with the target, time and id roles."""

    columns: tuple[ColumnSchema, ...]
    target: str
    time_column: str | None = None
    id_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Columns a model sees: all but the target, id columns and identifier-like columns."""
        skip = {self.target, *self.id_columns}
        return tuple(
            c.name for c in self.columns
            if c.name not in skip and c.kind is not ColumnKind.IDENTIFIER
        )

    @property
    def features(self) -> tuple[ColumnSchema, ...]:
        wanted = set(self.feature_columns)
        return tuple(c for c in self.columns if c.name in wanted)

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise SchemaError(f"column {name!r} is not in the schema",
                          found=", ".join(self.names), fix="use one of the schema's columns")

    def with_column(self, col: ColumnSchema) -> Schema:
        return replace(self, columns=tuple(col if c.name == col.name else c for c in self.columns))

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target,
            "time_column": self.time_column,
            "id_columns": list(self.id_columns),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(
            columns=tuple(ColumnSchema.from_dict(c) for c in data["columns"]),
            target=data["target"],
            time_column=data.get("time_column"),
            id_columns=tuple(data.get("id_columns") or ()),
        )

    @property
    def hash(self) -> str:
        return hash_json(self.to_dict())
