"""`mlpilot demo`: the whole path on the bundled flights sample, without questions."""

from __future__ import annotations

from pathlib import Path

import typer

from mlpilot.cli.output import console
from mlpilot.cli.progress import LiveRunDisplay
from mlpilot.cli.runs import print_leaderboard
from mlpilot.core.errors import DataError
from mlpilot.pipeline.workspace import Workspace

SAMPLE = Path("examples") / "flights_sample.parquet"
PROJECT = "flights"


def find_sample() -> Path:
    """The bundled sample: ./examples (a clone) or the source tree this package runs from."""
    for candidate in (Path.cwd() / SAMPLE, Path(__file__).resolve().parents[3] / SAMPLE):
        if candidate.is_file():
            return candidate
    raise DataError(
        "the demo data examples/flights_sample.parquet was not found",
        expected="the file in ./examples or in the mlpilot source tree",
        fix="run `mlpilot demo` from the root of the mlpilot repository",
    )


def run_demo(time: str) -> None:
    ws = Workspace()
    sample = find_sample()
    names = {p.name for p in ws.projects()}
    if PROJECT in names:
        project = ws.project(PROJECT)
        console.print(f"Project [bold]{PROJECT}[/] already exists in {ws.home}; "
                      "training a new version on it.")
    else:
        console.print(f"[bold]1. mlpilot project create {PROJECT} --data {SAMPLE} "
                      "--target delayed[/]")
        project = ws.create_project(PROJECT, sample, "delayed")
        ds = project.dataset()
        console.print(f"   {ds['rows']:,} rows × {ds['columns']} columns → dataset v1 "
                      f"{ds['sha256'][:12]}; task {project.config.task}, metric "
                      f"{project.config.metric}; proposed budget "
                      f"{project.proposed_budget.describe()}")
    spec = project.approve(time=time)
    console.print(f"[bold]2. mlpilot project approve {PROJECT} --time {time}[/]")
    console.print(f"   The demo approves a short budget itself: {spec.describe()}.")
    console.print(f"[bold]3. mlpilot run {PROJECT}[/]")
    with LiveRunDisplay(spec.time_seconds, project.config.metric) as display:
        outcome = project.run(observer=display)
    console.print(f"   Run {outcome.run_id}: {outcome.seconds:.1f}s, first model after "
                  f"{outcome.first_trial_seconds or 0:.1f}s; model v{outcome.model_version} "
                  f"{'promoted to champion' if outcome.promoted else 'not promoted'} "
                  f"({outcome.promotion_reason})")
    print_leaderboard(project, outcome.run_id, limit=12)
    metric = project.config.metric
    console.print("[bold]Test metrics on the untouched test rows (15%, stratified)[/]")
    for key, value in outcome.test_metrics.items():
        base = outcome.baseline_test_metrics.get(key)
        console.print(f"   {key:<18} {value:.4f}   (baseline {base:.4f})")
    console.print(f"\nTest {metric}: [bold green]{outcome.test_metrics[metric]:.4f}[/]")
    console.print("\n[bold]Try next:[/]")
    for command in (f"mlpilot leaderboard {PROJECT}", f"mlpilot model list {PROJECT}",
                    f"mlpilot model show {PROJECT} {outcome.model_version}",
                    f"mlpilot predict {PROJECT} --input {SAMPLE} --output preds.csv",
                    "mlpilot serve   # then open http://127.0.0.1:8000/docs",
                    f"mlpilot run list {PROJECT} --json"):
        console.print(f"   {command}")


def demo(time: str = typer.Option("40s", "--time", help="Budget the demo approves.")) -> None:
    """Create, approve, run and evaluate a project on the bundled flights sample.

    Example: mlpilot demo --time 40s
    """
    run_demo(time)
