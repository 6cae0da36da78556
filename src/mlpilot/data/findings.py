"""A finding: one thing a data check noticed, with how much it matters.

Quality reports and batch validations are lists of findings. ``blocking`` findings stop a batch
from becoming a dataset version; ``warning`` findings are shown; ``info`` findings are notes.

Example:
    >>> f = Finding("constant", "warning", "column 'year' holds one value: 2013", column="year")
    >>> f.to_dict()["severity"], Finding.from_dict(f.to_dict()) == f
    ('warning', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("blocking", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One observation of a check: its name, severity, a sentence, the column and numbers."""

    check: str
    severity: str
    message: str
    column: str | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "column": self.column,
                "message": self.message, "details": self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(check=data["check"], severity=data["severity"], message=data["message"],
                   column=data.get("column"), details=dict(data.get("details") or {}))


def by_severity(findings: list[Finding] | tuple[Finding, ...]) -> list[Finding]:
    """Blocking first, then warnings, then notes; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
