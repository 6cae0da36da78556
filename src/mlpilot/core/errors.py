"""One root exception with domain subclasses that also inherit the matching built-in.

Every message teaches: what was wrong, what was expected, what was found, and the fix.

Example:
    >>> err = DataError("target column 'dlayed' not found", expected="a column of the table",
    ...                 found="columns: carrier, delayed", fix="pass --target delayed")
    >>> print(err.message[:48])
    target column 'dlayed' not found. Expected: a co
    >>> err.fix
    'pass --target delayed'
    >>> isinstance(err, ValueError)
    True
"""

from __future__ import annotations


class MlpilotError(Exception):
    """Root of every error mlpilot raises on purpose.

    Args:
        problem: what went wrong, one sentence without a trailing period.
        expected: what mlpilot expected instead.
        found: what it found.
        fix: what the user should do.
    """

    exit_code = 1
    http_status = 400

    def __init__(
        self,
        problem: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.expected = expected
        self.found = found
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.problem.rstrip(".") + "."]
        if self.expected:
            parts.append(f"Expected: {self.expected.rstrip('.')}.")
        if self.found:
            parts.append(f"Found: {self.found.rstrip('.')}.")
        if self.fix:
            parts.append(f"Fix: {self.fix.rstrip('.')}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "error": type(self).__name__,
            "problem": self.problem,
            "expected": self.expected,
            "found": self.found,
            "fix": self.fix,
            "message": self.message,
        }


class DataError(MlpilotError, ValueError):
    """The data cannot be used: unreadable, empty, or unsuitable for the problem."""


class SchemaError(MlpilotError, ValueError):
    """A table does not match the schema the model was trained on."""

    http_status = 422


class NotFoundError(MlpilotError, LookupError):
    """A project, run, model version or object does not exist."""

    http_status = 404


class ConflictError(MlpilotError, ValueError):
    """The action conflicts with what exists (a name taken, a state that forbids it)."""

    http_status = 409


class ApprovalError(MlpilotError, PermissionError):
    """The action needs an approved budget first."""

    http_status = 403


class ConfigError(MlpilotError, ValueError):
    """An option or setting has a value mlpilot cannot use."""


class IntegrityError(MlpilotError, RuntimeError):
    """Stored bytes do not match their recorded hash: tampering or corruption."""

    http_status = 500
