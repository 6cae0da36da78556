"""`mlpilot run NAME` starts a run; `mlpilot run list NAME`, `mlpilot run show RUN` inspect."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, print_json, table
from mlpilot.cli.progress import LiveRunDisplay
from mlpilot.core.errors import ConfigError
from mlpilot.pipeline.workspace import Project, Trial


class _StartByDefault(TyperGroup):
    """`mlpilot run flights` means `mlpilot run start flights`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_StartByDefault, no_args_is_help=True,
                  help="Start a run (`mlpilot run NAME`), list runs, show one.")


@app.command("start")
def start(
    name: str = typer.Argument(..., help="Project name."),
    max_trials: int = typer.Option(None, "--max-trials", min=1,
                                   help="Stop after N trials (repeatable from scratch)."),
    optimize_for: str = typer.Option("accuracy", "--optimize-for",
                                     help="accuracy, or latency: only models predicting under "
                                          "--max-latency-us per row, no ensemble."),
    max_latency_us: float = typer.Option(20.0, "--max-latency-us", min=0.01,
                                         help="Per-row prediction limit with "
                                              "--optimize-for latency."),
    final_fit: bool = typer.Option(True, "--final-fit/--no-final-fit",
                                   help="Refit the chosen model on every labelled row after "
                                        "evaluation unless a probe fitted without the test "
                                        "rows scores worse on them (default), or serve the "
                                        "model exactly as evaluated on the test rows."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON, no display."),
) -> None:
    """Run the pipeline inside the approved budget: split, search, evaluate, final fit on
    every labelled row, register, promote.

    Example: mlpilot run flights --optimize-for latency --max-latency-us 10 --no-final-fit
    """
    if optimize_for not in ("accuracy", "latency"):
        raise ConfigError(f"unknown --optimize-for value {optimize_for!r}",
                          expected="accuracy or latency", fix="pass --optimize-for latency")
    latency = max_latency_us if optimize_for == "latency" else None
    project = open_workspace().project(name)
    spec = project.require_approved_budget()
    if as_json:
        outcome = project.run(max_trials=max_trials, max_latency_us=latency,
                              final_fit=final_fit)
        print_json(outcome.__dict__)
        return
    console.print(f"Running [bold]{name}[/] within {spec.describe()}")
    with LiveRunDisplay(spec.time_seconds, project.config.metric) as display:
        outcome = project.run(max_trials=max_trials, observer=display,
                              max_latency_us=latency, final_fit=final_fit)
    console.print(f"Run [bold]{outcome.run_id}[/] finished in {outcome.seconds:.1f}s; "
                  f"registered model version [bold]{outcome.model_version}[/]")
    print_leaderboard(project, outcome.run_id, limit=10)
    metric = project.config.metric
    console.print(f"Test {metric}: [bold]{outcome.test_metrics[metric]:.5f}[/] "
                  f"(baseline {outcome.baseline_test_metrics[metric]:.5f})")
    console.print(f"Final fit: {outcome.final_fit}")
    verdict = "[green]promoted to champion[/]" if outcome.promoted else "[yellow]not promoted[/]"
    console.print(f"Model v{outcome.model_version} {verdict}: {outcome.promotion_reason}")


@app.command("list")
def list_runs(name: str = typer.Argument(..., help="Project name."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the runs of a project, oldest first.

    Example: mlpilot run list flights --json
    """
    runs = [r.to_dict() for r in open_workspace().project(name).runs()]
    if as_json:
        print_json(runs)
        return
    console.print(table(f"Runs of {name}", ["#", "id", "status", "started", "seconds",
                                             "trials", "model"],
                        [(r["number"], r["id"], r["status"], r["started_at"], r["seconds"],
                          r["trials"], r["model_version"]) for r in runs]))


@app.command("show")
def show(name: str = typer.Argument(..., help="Project name."),
         run_id: str = typer.Argument(None, help="Run id or prefix (default: the latest)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON with the manifest.")
         ) -> None:
    """Show a run: status, split, timings and its manifest.

    Example: mlpilot run show flights 3f2a
    """
    run = open_workspace().project(name).get_run(run_id)
    info = run.to_dict(manifest=True)
    if as_json:
        print_json(info)
        return
    env = run.manifest.get("environment", {})
    console.print(table(f"Run {run.id}", ["field", "value"], [
        ("status", run.status), ("started", info["started_at"]), ("seconds", run.seconds),
        ("first model after", run.first_trial_seconds), ("trials", len(run.trials)),
        ("model version", run.model_version), ("split", run.split and
                                               f"{run.split.get('method')} "
                                               f"{run.split.get('hash', '')[:12]}"),
        ("dataset", run.manifest.get("dataset")), ("seed", run.manifest.get("seed")),
        ("python / mlpilot", f"{env.get('python')} / {env.get('mlpilot')}"),
        ("error", run.error)]))


def print_leaderboard(project: Project, run_id: str | None, limit: int | None = None) -> None:
    trials: list[Trial] = project.leaderboard(run_id)
    shown = trials[:limit] if limit else trials
    title = f"Leaderboard (validation {project.config.metric})"
    if limit and len(trials) > limit:
        title += f", top {limit} of {len(trials)}"
    console.print(table(title, ["rank", "trial", "family", "score", "fit s", "µs/row", "state"],
                        [(i + 1, t.number, t.family, t.score, round(t.fit_seconds, 2),
                          None if t.predict_seconds_per_row is None
                          else round(t.predict_seconds_per_row * 1e6, 2), t.state)
                         for i, t in enumerate(shown)]))
