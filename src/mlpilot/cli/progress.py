"""The live run display: stage, trials done, best score so far, time left."""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from mlpilot.cli.output import console, fmt
from mlpilot.core.budget import format_duration
from mlpilot.search.study import TrialResult


class LiveRunDisplay:
    """A RunObserver drawing a Rich live panel that refreshes on its own clock."""

    def __init__(self, budget_seconds: float, metric: str) -> None:
        self.budget_seconds = budget_seconds
        self.metric = metric
        self.start = time.monotonic()
        self.stage_name = "starting"
        self.detail = ""
        self.trials = 0
        self.failed = 0
        self.pruned = 0
        self.best: float | None = None
        self.last = ""
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=4,
                          transient=False)

    def __enter__(self) -> LiveRunDisplay:
        if self.interactive:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.interactive:
            self._live.__exit__(*exc)  # type: ignore[arg-type]
            console.print()

    @property
    def interactive(self) -> bool:
        """A live panel on a terminal; plain log lines when the output is a file or a pipe."""
        return console.is_terminal

    def stage(self, name: str, detail: str = "") -> None:
        self.stage_name, self.detail = name, detail
        if not self.interactive:
            console.print(f"[{self._clock()}] stage {name}: {detail}", highlight=False)

    def trial(self, result: TrialResult, best_score: float | None, seconds_left: float) -> None:
        self.trials += 1
        self.failed += result.state == "failed"
        self.pruned += result.state == "pruned"
        improved = best_score is not None and best_score != self.best
        self.best = best_score
        score = fmt(result.score) if result.score is not None else result.state
        self.last = f"#{result.number} {result.family}: {score} ({result.fit_seconds:.1f}s)"
        if not self.interactive and (improved or result.state == "failed"):
            console.print(f"[{self._clock()}] trial {self.last}; best {self.metric} "
                          f"{fmt(self.best)}; {seconds_left:.0f}s left", highlight=False)

    def _clock(self) -> str:
        return f"{time.monotonic() - self.start:6.1f}s"

    def _render(self) -> RenderableType:
        elapsed = time.monotonic() - self.start
        left = max(0.0, self.budget_seconds - elapsed)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan")
        grid.add_column()
        grid.add_row("stage", f"{self.stage_name} [dim]{self.detail}[/]")
        grid.add_row("trials", f"{self.trials} done"
                     + (f", {self.pruned} pruned" if self.pruned else "")
                     + (f", {self.failed} failed" if self.failed else ""))
        grid.add_row(f"best {self.metric}", fmt(self.best))
        grid.add_row("last trial", self.last or "-")
        grid.add_row("time left", f"{format_duration(left)} of "
                                  f"{format_duration(self.budget_seconds)}")
        bar = ProgressBar(total=self.budget_seconds, completed=min(elapsed, self.budget_seconds),
                          width=50)
        return Group(grid, bar)
