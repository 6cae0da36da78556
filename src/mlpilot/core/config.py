"""Configuration types: the task and the project definition, frozen.

Example:
    >>> cfg = ProjectConfig(name="flights", target="delayed", task=Task.BINARY, metric="roc_auc")
    >>> cfg.seed, cfg.id_columns
    (0, ())
    >>> ProjectConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlpilot.core.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION

    @classmethod
    def parse(cls, value: str) -> Task:
        try:
            return cls(value.lower())
        except ValueError:
            raise ConfigError(
                f"unknown task {value!r}",
                expected="one of binary, multiclass, regression",
                found=repr(value),
                fix="pass --task binary|multiclass|regression, or leave it out to detect it",
            ) from None


def check_project_name(name: str) -> str:
    """Project names are lower-case slugs usable in URLs and paths."""
    if not _NAME.match(name or ""):
        raise ConfigError(
            f"invalid project name {name!r}",
            expected="1-63 characters: lower-case letters, digits, '-' or '_', starting with a "
            "letter or digit",
            found=repr(name),
            fix="choose a name like 'flights' or 'churn-2024'",
        )
    return name


@dataclass(frozen=True)
class ProjectConfig:
    """The problem definition of a project."""

    name: str
    target: str
    task: Task
    metric: str
    time_column: str | None = None
    id_columns: tuple[str, ...] = field(default_factory=tuple)
    seed: int = 0

    def __post_init__(self) -> None:
        check_project_name(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "task": str(self.task),
            "metric": self.metric,
            "time_column": self.time_column,
            "id_columns": list(self.id_columns),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProjectConfig:
        return cls(
            name=data["name"],
            target=data["target"],
            task=Task(data["task"]),
            metric=data["metric"],
            time_column=data.get("time_column"),
            id_columns=tuple(data.get("id_columns") or ()),
            seed=int(data.get("seed", 0)),
        )
