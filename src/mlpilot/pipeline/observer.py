"""How a run reports progress to whoever watches it (a Rich display, a log, nothing)."""

from __future__ import annotations

from typing import Protocol

from mlpilot.search.study import TrialResult


class RunObserver(Protocol):
    def stage(self, name: str, detail: str = "") -> None:
        """A pipeline stage starts."""

    def trial(self, result: TrialResult, best_score: float | None, seconds_left: float) -> None:
        """A trial finished."""


class SilentObserver:
    """Watches nothing."""

    def stage(self, name: str, detail: str = "") -> None:
        return None

    def trial(self, result: TrialResult, best_score: float | None, seconds_left: float) -> None:
        return None
