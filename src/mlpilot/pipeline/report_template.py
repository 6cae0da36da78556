"""Rendering a run report (the data from :mod:`mlpilot.pipeline.report`) as HTML or Markdown.

The HTML page is self-contained: inline CSS, charts as inline SVG, no script, no external
resource. The Markdown embeds the same charts as ``data:`` SVG images.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827;
background:#f9fafb;margin:0;line-height:1.45}
main{max-width:1040px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;
border-bottom:2px solid #e5e7eb;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.sub{color:#4b5563;margin:0 0 12px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.hl td{background:#eff6ff;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #e5e7eb}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;
font-weight:600}.ok{background:#dcfce7;color:#166534}.warn{background:#fef3c7;color:#92400e}
code{font-family:ui-monospace,Menlo,monospace;font-size:12px;background:#f3f4f6;
padding:0 3px;border-radius:3px}
ul{margin:4px 0 12px}.kv td:first-child{color:#4b5563;white-space:nowrap}
"""


def _fmt(value: Any, digits: int = 5) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v, 4)}" for k, v in sorted(params.items())) or "–"


def _interval(item: dict[str, Any]) -> str:
    if item["interval"] is None:
        return "–"
    low, high = item["interval"]
    return f"[{low:.4g}, {high:.4g}]"


def sections(data: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The report as (title, blocks); a block is ("p", text), ("ul", items), ("table",
    header, rows, highlight_row) or ("charts", [svg, ...])."""
    run, config = data["run"], data["config"]
    model = run["model"]
    budget = data["budget"] or {}
    approval = data["approval"] or {}
    out: list[tuple[str, list[Any]]] = []
    out.append(("Problem", [("table", ["field", "value"], [
        ("target", config["target"]), ("task", data["task"]),
        ("metric optimised", f"{data['metric']} ("
         f"{'higher' if data['greater_is_better'] else 'lower'} is better)"),
        ("time column", config.get("time_column")),
        ("id columns", ", ".join(config.get("id_columns") or []) or None),
        ("seed", config.get("seed")),
        ("approved budget", f"{_fmt(budget.get('time_seconds'))} s, {budget.get('cpus')} "
         f"CPUs, {budget.get('memory_mb')} MB, approved by {approval.get('approved_by')} at "
         f"{approval.get('approved_at')}"),
        ("trial budget", data["max_trials"] or "none (time budget)"),
    ], None)]))
    ds = run["dataset"]
    profile_rows = [(c["name"] + (" (target)" if c["target"] else ""), c["kind"],
                     f"{c['missing']:.1%}", c["unique"], c["summary"])
                    for c in data["profile_summary"]]
    out.append(("Data", [
        ("p", f"Dataset version {ds['version']} ({ds['rows']:,} rows, {ds['columns']} "
              f"columns, sha256 {ds['sha256'][:16]}…), from {ds['source']}."),
        ("h3", "Quality findings"), ("ul", data["findings"]),
        ("h3", "Columns"),
        ("table", ["column", "kind", "missing", "distinct", "summary"], profile_rows, None)]))
    split = run["split"] or {}
    counts = split.get("counts", {})
    out.append(("Split", [("p", f"{split.get('method', '?')} split: {counts.get('train', 0):,}"
                                f" training, {counts.get('valid', 0):,} validation and "
                                f"{counts.get('test', 0):,} test rows (hash "
                                f"{str(split.get('hash', ''))[:16]}…). Preprocessing is "
                                f"fitted on the training rows only; the test rows are used "
                                f"once, for the final evaluation.")]))
    families = [(f["family"], f["trials"], f["failed"], f["best"], round(f["seconds"], 2))
                for f in data["families"]]
    out.append(("Search history", [
        ("p", f"{len(data['trials'])} trials in {_fmt(run['seconds'], 4)} s "
              f"({run['manifest'].get('mode', 'search')}). Trial 0 is the baseline, then the "
              f"portfolio of defaults, then a seeded Optuna TPE study."),
        ("charts", [data["charts"]["history"]]),
        ("table", ["family", "trials", "failed", f"best validation {data['metric']}",
                   "fit seconds"], families, None)]))
    chosen = model["trial_number"] if model else None
    board = [(i + 1, t["number"], t["family"], t["score"], round(t["fit_seconds"], 2),
              _params(t["params"])) for i, t in enumerate(data["leaderboard"])]
    highlight = next((i for i, t in enumerate(data["leaderboard"]) if t["number"] == chosen),
                     None)
    out.append(("Leaderboard", [("table", ["rank", "trial", "family",
                                           f"validation {data['metric']}", "fit s",
                                           "parameters"], board, highlight)]))
    if model is None:
        out.append(("Chosen model", [("p", data["why"])]))
        return out
    trial = model["lineage"]["trial"]
    out.append(("Chosen model and why", [
        ("p", data["why"]),
        ("table", ["field", "value"], [
            ("model version", model["version"]), ("family", model["family"]),
            ("parameters", _params(trial["params"])), ("trial seed", trial["seed"]),
            ("artifact sha256", model["artifact_sha256"]),
            ("final fit", model["lineage"].get("refit", {}).get("reason", "not recorded")),
            ("evaluated model sha256",
             model["lineage"].get("evaluated", {}).get("artifact_sha256",
                                                      model["artifact_sha256"]))], None)]))
    metrics = [(m["name"] + (" ★" if m["optimised"] else ""), m["value"], _interval(m),
                m["baseline"]) for m in data["test_metrics"]]
    out.append(("Test metrics", [
        ("p", f"On {data['test_rows']:,} untouched test rows, scored by the model as "
              f"evaluated (fitted without them; when the registered artifact was refit on "
              f"every labelled row, these figures are its estimate). Intervals are 95% "
              f"bootstrap percentile intervals (300 resamples of the test rows, seeded)."),
        ("table", ["metric", "model", "95% interval", "baseline"], metrics, None)]))
    plots = [data["charts"][k] for k in ("roc", "pr", "calibration", "residuals", "actual")
             if k in data["charts"]]
    out.append(("Evaluation plots", [("charts", plots)]))
    out.append(("Feature importance", [
        ("p", "How much the test metric worsens when one input column is shuffled (the whole "
              "Predictor, preprocessing included)."),
        ("charts", [data["charts"]["importance"]])]))
    lineage = data["lineage"]
    status = ("stale: " + "; ".join(lineage["stale_reasons"]) if lineage["stale"]
              else "current: built on the latest data and schema")
    out.append(("Lineage", [
        ("p", f"Model v{lineage['version']} is {status}."
              + (" It is the champion." if lineage["champion"] else "")),
        ("ul", [n["label"] for n in lineage["nodes"]]),
        ("h3", "Events"),
        ("table", ["#", "action", "actor", "at"],
         [(e["seq"], e["action"], e["actor"], e["at"]) for e in data["events"]], None)]))
    env = data["environment"]
    seeds = data["seeds"] or {}
    out.append(("Environment", [
        ("table", ["field", "value"], [
            ("mlpilot", env["mlpilot"]), ("python", env["python"]),
            ("platform", env["platform"]),
            ("CPU", f"{env['cpu']} ({env['cpu_count']} CPUs, {env['cpu_flags']} flags)"),
            ("threads per fit", run["manifest"].get("n_threads")),
            ("thread variables", json.dumps(env["threads"])),
            ("native thread pools", ", ".join(env["blas"] or []) or None),
            ("seeds", f"split {seeds.get('split')}, sampler {seeds.get('sampler')}, trial n "
                      f"uses {seeds.get('project')} + n"),
            ("packages", ", ".join(f"{k} {v}" for k, v in env["key_packages"].items())
             + f" (and {env['n_packages']} installed distributions in all, recorded in the "
               f"manifest)")], None)]))
    return out


def render_html(data: dict[str, Any]) -> str:
    """One self-contained HTML page."""
    run = data["run"]
    head = (f"<h1>{escape(run['project'])}: run #{run['number']}</h1>"
            f"<p class='sub'>Run <code>{escape(run['id'])}</code>, {escape(run['status'])}, "
            f"started {escape(run['started_at'])} UTC"
            + (f", model v{run['model']['version']}" if run["model"] else "") + ". "
            + _badge(data) + "</p>")
    body = [head]
    for title, blocks in sections(data):
        body.append(f"<h2>{escape(title)}</h2>")
        for block in blocks:
            body.append(_html_block(block))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>mlpilot report: {escape(run['project'])} run {escape(run['id'])}</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n")


def _badge(data: dict[str, Any]) -> str:
    lineage = data.get("lineage")
    if not lineage:
        return ""
    if lineage["stale"]:
        return "<span class='badge warn'>stale model</span>"
    return "<span class='badge ok'>current model</span>"


def _html_block(block: tuple[Any, ...]) -> str:
    kind = block[0]
    if kind == "p":
        return f"<p>{escape(block[1])}</p>"
    if kind == "h3":
        return f"<h3>{escape(block[1])}</h3>"
    if kind == "ul":
        return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in block[1]) + "</ul>"
    if kind == "charts":
        return "<div class='charts'>" + "".join(block[1]) + "</div>"
    _, header, rows, highlight = block
    cls = " class='kv'" if header == ["field", "value"] else ""
    parts = [f"<table{cls}><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        tr = "<tr class='hl'>" if i == highlight else "<tr>"
        cells = "".join(
            f"<td class='num'>{escape(_fmt(v))}</td>" if isinstance(v, int | float)
            and not isinstance(v, bool) and not cls else f"<td>{escape(_fmt(v))}</td>"
            for v in row)
        parts.append(tr + cells + "</tr>")
    return "".join(parts) + "</table>"


def render_markdown(data: dict[str, Any]) -> str:
    """The same report as Markdown (charts as embedded SVG data images)."""
    run = data["run"]
    lines = [f"# {run['project']}: run #{run['number']}", "",
             f"Run `{run['id']}`, {run['status']}, started {run['started_at']} UTC"
             + (f", model v{run['model']['version']}" if run["model"] else "") + ".", ""]
    for title, blocks in sections(data):
        lines += [f"## {title}", ""]
        for block in blocks:
            lines += [*_md_block(block), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_block(block: tuple[Any, ...]) -> list[str]:
    kind = block[0]
    if kind == "p":
        return [block[1]]
    if kind == "h3":
        return [f"### {block[1]}"]
    if kind == "ul":
        return [f"- {item}" for item in block[1]]
    if kind == "charts":
        return [f"![chart {i + 1}](data:image/svg+xml;base64,"
                f"{base64.b64encode(svg.encode('utf-8')).decode('ascii')})"
                for i, svg in enumerate(block[1])]
    _, header, rows, highlight = block
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        cells = [_fmt(v).replace("|", "\\|") for v in row]
        if i == highlight:
            cells = [f"**{c}**" for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    return out
