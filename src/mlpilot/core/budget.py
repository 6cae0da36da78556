"""The compute budget: what is approved (:class:`BudgetSpec`) and the running clock.

Example:
    >>> spec = BudgetSpec(time_seconds=60, cpus=2, memory_mb=2048)
    >>> spec.describe()
    '1m 0s, 2 CPUs, 2048 MB'
    >>> clock = Budget(10.0)
    >>> 9.0 < clock.remaining() <= 10.0
    True
    >>> clock.child(0.5).seconds <= 5.0
    True
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from mlpilot.core.errors import ConfigError

_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"^\s*(?:{_NUM}\s*h)?\s*(?:{_NUM}\s*m)?\s*(?:{_NUM}\s*s?)?\s*$")


def parse_duration(text: str) -> float:
    """Parse '90', '90s', '5m', '1h30m', '2m30s' into seconds.

    >>> parse_duration("1h30m"), parse_duration("45"), parse_duration("2m30s")
    (5400.0, 45.0, 150.0)
    """
    match = _DURATION.match(text or "")
    if not text or not match or not any(match.groups()):
        raise ConfigError(
            f"cannot read the duration {text!r}",
            expected="a duration such as 90s, 5m or 1h30m",
            found=repr(text),
            fix="write the time with a unit, e.g. --time 5m",
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ConfigError("the duration must be positive", found=repr(text),
                          fix="give a positive time, e.g. --time 2m")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as '1h 2m 3s' / '2m 5s' / '4.2s'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


@dataclass(frozen=True)
class BudgetSpec:
    """An approved (or proposed) budget: wall-clock time, CPUs and peak memory."""

    time_seconds: float
    cpus: int
    memory_mb: int

    def __post_init__(self) -> None:
        if self.time_seconds <= 0:
            raise ConfigError("the time budget must be positive", found=str(self.time_seconds),
                              fix="approve a positive time, e.g. --time 2m")
        if self.cpus < 1:
            raise ConfigError("the CPU budget must be at least 1", found=str(self.cpus),
                              fix="approve at least one CPU, e.g. --cpus 1")
        if self.memory_mb < 64:
            raise ConfigError("the memory budget must be at least 64 MB",
                              found=f"{self.memory_mb} MB", fix="approve more memory")

    def describe(self) -> str:
        return f"{format_duration(self.time_seconds)}, {self.cpus} CPUs, {self.memory_mb} MB"

    def to_dict(self) -> dict[str, float | int]:
        return {"time_seconds": self.time_seconds, "cpus": self.cpus, "memory_mb": self.memory_mb}


class Budget:
    """A wall-clock budget on the monotonic clock; pass it down, never do time arithmetic in loops.

    Args:
        seconds: total seconds available from construction.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def deadline(self) -> float:
        """The absolute ``time.monotonic()`` value at which the budget ends."""
        return self._start + self.seconds

    def child(self, fraction: float = 1.0, *, at_most: float | None = None) -> Budget:
        """A sub-budget of ``fraction`` of what remains (capped at ``at_most`` seconds)."""
        seconds = self.remaining() * fraction
        if at_most is not None:
            seconds = min(seconds, at_most)
        return Budget(seconds)
