"""The narrative report of a run: what was asked, what was done, what came out, and why.

``report_data`` gathers everything from the store (problem, data summary and quality findings,
split, search history, leaderboard, the chosen model and why, test metrics with bootstrap
intervals, evaluation charts, permutation importance, lineage, environment); the template
module renders it as one self-contained HTML page (inline CSS and SVG) or as Markdown. The
same run always gives the same report: nothing depends on the clock.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlpilot.core.config import Task
from mlpilot.evaluation import charts
from mlpilot.evaluation.bootstrap import bootstrap_intervals
from mlpilot.evaluation.importance import permutation_importance
from mlpilot.evaluation.metrics import evaluate, get_metric
from mlpilot.pipeline.lineage import model_lineage
from mlpilot.pipeline.registry import load_predictor
from mlpilot.pipeline.report_template import render_html, render_markdown
from mlpilot.pipeline.rundata import load_run_data, raw_prediction
from mlpilot.store import repositories as repo
from mlpilot.store.audit import list_events
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import ProjectRow

IMPORTANCE_ROWS = 5000
KEY_PACKAGES = ("mlpilot", "numpy", "pandas", "scikit-learn", "lightgbm", "optuna", "skops",
                "scipy", "pyarrow")


def render_report(store: StoreHandle, run_id: str, fmt: str = "html") -> str:
    """The report of ``run_id`` as "html" or "md"."""
    data = report_data(store, run_id)
    return render_html(data) if fmt == "html" else render_markdown(data)


def report_data(store: StoreHandle, run_id: str) -> dict[str, Any]:
    """Everything the report shows, as plain data (SVG charts as strings)."""
    with store.transaction() as session:
        run = repo.get_run(session, run_id)
        project = session.get(ProjectRow, run.project_id)
        dataset = repo.get_dataset_version_by_id(session, run.dataset_version_id)
        model = (repo.get_model_version(session, project, run.model_version)
                 if run.model_version is not None else None)
        trials = [{"number": t.number, "family": t.family, "params": json.loads(t.params_json),
                   "seed": t.seed, "state": t.state, "score": t.score,
                   "fit_seconds": t.fit_seconds, "error": t.error}
                  for t in repo.list_trials(session, run)]
        events = [{"seq": e.seq, "action": e.action, "actor": e.actor, "at": e.at.isoformat(),
                   "payload": json.loads(e.payload_json)}
                  for e in list_events(session, project.name)]
        profile = json.loads(store.objects.get(dataset.profile_sha256))
        info = {"id": run.id, "number": run.number, "status": run.status,
                "started_at": run.started_at.isoformat(timespec="seconds"),
                "finished_at": run.finished_at.isoformat(timespec="seconds")
                if run.finished_at else None,
                "seconds": (run.finished_at - run.started_at).total_seconds()
                if run.finished_at else None,
                "split": json.loads(run.split_json) if run.split_json else None,
                "manifest": json.loads(run.manifest_json), "project": project.name,
                "dataset": {"version": dataset.version, "sha256": dataset.sha256,
                            "rows": dataset.n_rows, "columns": dataset.n_columns,
                            "source": dataset.source},
                "model": None if model is None else {
                    "version": model.version, "family": model.family, "metric": model.metric,
                    "test_score": model.test_score, "trial_number": model.trial_number,
                    "artifact_sha256": model.artifact_sha256,
                    "metrics": json.loads(model.metrics_json),
                    "lineage": json.loads(model.lineage_json)}}
    manifest = info["manifest"]
    config = manifest["project"]
    task = Task(config["task"])
    metric = get_metric(config["metric"], task)
    data: dict[str, Any] = {
        "run": info, "config": config, "task": str(task), "metric": metric.name,
        "greater_is_better": metric.greater_is_better, "budget": manifest.get("budget"),
        "approval": manifest.get("approval"), "max_trials": manifest.get("max_trials"),
        "profile_summary": _profile_summary(profile, config["target"]),
        "findings": _findings(profile, config),
        "trials": trials, "leaderboard": _leaderboard(trials, metric.greater_is_better),
        "families": _families(trials, metric.greater_is_better),
        "charts": {}, "environment": _environment(manifest.get("environment", {})),
        "seeds": manifest.get("seeds"), "events": _run_events(events, info),
    }
    data["charts"]["history"] = _history_chart(trials, metric)
    if info["model"] is None:
        data["why"] = "the run did not register a model"
        return data
    data["why"] = _why(info, trials, metric, events)
    rows = load_run_data(store, info["id"])
    test_X, test_y = rows.part("test")
    # the test rows are scored with the model as evaluated (fitted without them), not with
    # the registered artifact when that was refit on every labelled row
    evaluated = info["model"]["lineage"].get("evaluated", {}).get("artifact_sha256")
    best = load_predictor(store, evaluated or info["model"]["artifact_sha256"])
    prediction = raw_prediction(best, test_X)
    baseline_metrics = info["model"]["metrics"].get("baseline", {})
    seed = int(config.get("seed", 0))
    intervals = bootstrap_intervals(task, test_y, prediction, seed=seed)
    test_metrics = evaluate(task, test_y, prediction, rows.classes, threshold=best.threshold)
    data["test_metrics"] = [
        {"name": name, "value": value, "interval": intervals.get(name),
         "baseline": baseline_metrics.get(name), "optimised": name == metric.name}
        for name, value in test_metrics.items()]
    data["test_rows"] = len(test_y)
    data["charts"].update(_evaluation_charts(task, test_y, prediction, rows.classes))
    data["importance"] = _importance(best, test_X, test_y, metric, seed)
    data["charts"]["importance"] = charts.svg_bars(
        [n for n, _ in data["importance"][:15]], [v for _, v in data["importance"][:15]],
        title="Permutation importance on test rows", xlabel=f"drop in test {metric.name}")
    lineage = model_lineage(store, info["project"], info["model"]["version"])
    data["lineage"] = lineage.to_dict()
    return data


def _profile_summary(profile: dict[str, Any], target: str) -> list[dict[str, Any]]:
    out = []
    for name, col in profile.get("columns", {}).items():
        if col.get("kind") == "numeric":
            summary = (f"mean {col.get('mean'):.4g}, range {col.get('min'):.4g} to "
                       f"{col.get('max'):.4g}" if col.get("mean") is not None else "no values")
        elif col.get("kind") == "datetime":
            summary = f"{col.get('min')} to {col.get('max')}"
        else:
            top = col.get("top") or []
            summary = ", ".join(f"{t['value']} ({t['count']})" for t in top[:3])
        out.append({"name": name, "kind": col.get("kind"), "dtype": col.get("dtype"),
                    "missing": col.get("missing_fraction") or 0.0,
                    "unique": col.get("n_unique"), "summary": summary,
                    "target": name == target})
    return out


def _findings(profile: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Data-quality observations read from the profile."""
    n = profile.get("n_rows", 0) or 1
    found = []
    for name, col in profile.get("columns", {}).items():
        missing = col.get("missing_fraction") or 0.0
        if name == config["target"] and col.get("missing"):
            found.append(f"target {name!r}: {col['missing']} rows without a label were dropped")
        elif missing >= 0.2:
            found.append(f"{name!r} is missing in {missing:.0%} of rows")
        if col.get("n_unique") == 1:
            found.append(f"{name!r} is constant (one value): it carries no signal")
        elif (col.get("kind") == "categorical" and col.get("n_unique", 0) > 0.5 * n
              and name not in config.get("id_columns", [])):
            found.append(f"{name!r} has {col['n_unique']:,} distinct values in {n:,} rows "
                         f"(identifier-like)")
    return found or ["no missing-value, constant or identifier-like columns found"]


def _leaderboard(trials: list[dict[str, Any]], greater: bool) -> list[dict[str, Any]]:
    scored = [t for t in trials if t["score"] is not None and t["state"] == "complete"]
    scored.sort(key=lambda t: (-t["score"] if greater else t["score"], t["number"]))
    return scored[:10]


def _families(trials: list[dict[str, Any]], greater: bool) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in trials:
        row = out.setdefault(t["family"], {"family": t["family"], "trials": 0, "failed": 0,
                                           "best": None, "seconds": 0.0})
        row["trials"] += 1
        row["failed"] += t["state"] == "failed"
        row["seconds"] += t["fit_seconds"] or 0.0
        s = t["score"]
        if s is not None and (row["best"] is None or (s > row["best"] if greater
                                                      else s < row["best"])):
            row["best"] = s
    return sorted(out.values(), key=lambda r: r["family"])


def _history_chart(trials: list[dict[str, Any]], metric: Any) -> str:
    numbers = [t["number"] for t in trials]
    running = charts.best_so_far([t["score"] for t in trials], metric.greater_is_better)
    series = [("best so far", numbers, [np.nan if v is None else v for v in running]),
              ("trial score", numbers, [np.nan if t["score"] is None else t["score"]
                                        for t in trials])]
    return charts.svg_lines(series, title=f"Search history (validation {metric.name})",
                            xlabel="trial", ylabel=metric.name, markers=True)


def _why(info: dict[str, Any], trials: list[dict[str, Any]], metric: Any,
         events: list[dict[str, Any]]) -> str:
    model = info["model"]
    chosen = next(t for t in trials if t["number"] == model["trial_number"])
    complete = sum(t["state"] == "complete" for t in trials)
    test = model["metrics"]["test"].get(metric.name)
    base = model["metrics"]["baseline"].get(metric.name)
    text = (f"Trial {chosen['number']} ({chosen['family']}) had the "
            f"{'highest' if metric.greater_is_better else 'lowest'} validation {metric.name} "
            f"({chosen['score']:.5g}) of {complete} completed trials, so it was chosen. On the "
            f"untouched test rows it scores {test:.5g} against {base:.5g} for the baseline.")
    moves = [e for e in events if e["action"] == "model.promoted"
             and e["payload"].get("version") == model["version"]]
    if moves:
        text += f" It was promoted to champion: {moves[0]['payload'].get('reason')}."
    else:
        reproduces = info["manifest"].get("reproduces")
        text += (f" It re-creates run {reproduces} and is never promoted." if reproduces
                 else " It was not promoted to champion (it did not beat the champion).")
    return text


def _evaluation_charts(task: Task, y: np.ndarray, prediction: np.ndarray,
                       classes: list[Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if task is Task.REGRESSION:
        residual = y - prediction
        out["residuals"] = charts.svg_scatter(prediction, residual, title="Residuals",
                                              xlabel="predicted", ylabel="actual - predicted",
                                              zero_line=True)
        out["actual"] = charts.svg_scatter(prediction, y, title="Predicted vs actual",
                                           xlabel="predicted", ylabel="actual")
        return out
    names = [str(c) for c in (classes or range(prediction.shape[1]))]
    shown = [1] if task is Task.BINARY else list(range(min(len(names), 6)))
    roc, pr, cal = [], [], []
    for k in shown:
        hit = (y == k).astype(int)
        if hit.min() == hit.max():
            continue
        label = names[k] if task is Task.MULTICLASS else f"{names[k]} (positive)"
        roc.append((label, *charts.roc_points(hit, prediction[:, k])))
        pr.append((label, *charts.pr_points(hit, prediction[:, k])))
        mean_p, freq, _ = charts.calibration_bins(hit, prediction[:, k])
        cal.append((label, mean_p, freq))
    if roc:
        out["roc"] = charts.svg_lines(roc, title="ROC curve", xlabel="false positive rate",
                                      ylabel="true positive rate", unit_square=True,
                                      diagonal=True)
        out["pr"] = charts.svg_lines(pr, title="Precision-recall curve", xlabel="recall",
                                     ylabel="precision", unit_square=True)
        out["calibration"] = charts.svg_lines(cal, title="Calibration (10 bins)",
                                              xlabel="mean predicted probability",
                                              ylabel="observed frequency", unit_square=True,
                                              diagonal=True, markers=True)
    return out


def _importance(predictor: Any, X: Any, y: np.ndarray, metric: Any,
                seed: int) -> list[tuple[str, float]]:
    if len(X) > IMPORTANCE_ROWS:
        keep = np.linspace(0, len(X) - 1, IMPORTANCE_ROWS).astype(int)
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    sign = 1.0 if metric.greater_is_better else -1.0

    def score(y_true: Any, pred: Any) -> float:
        value = metric(y_true, pred)
        return sign * value if np.isfinite(value) else 0.0

    return permutation_importance(lambda f: raw_prediction(predictor, f), X, y, score,
                                  seed=seed)


def _environment(env: dict[str, Any]) -> dict[str, Any]:
    packages = env.get("packages", {})
    return {"python": env.get("python"), "platform": env.get("platform"),
            "cpu": env.get("cpu"), "cpu_count": env.get("cpu_count"),
            "cpu_flags": len(env.get("cpu_flags", [])), "threads": env.get("threads"),
            "blas": env.get("blas"), "mlpilot": env.get("mlpilot"),
            "key_packages": {k: packages.get(k) for k in KEY_PACKAGES if k in packages},
            "n_packages": len(packages)}


def _run_events(events: list[dict[str, Any]], info: dict[str, Any]) -> list[dict[str, Any]]:
    full = info["id"]
    version = info["model"]["version"] if info["model"] else None
    out = []
    for e in events:
        p = e["payload"]
        if (p.get("run_id") == full or p.get("original_run") == full
                or p.get("new_run") == full or (version is not None and e["action"].startswith(
                    "model.") and p.get("version") == version)):
            out.append(e)
    return out
