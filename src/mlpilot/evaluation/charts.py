"""Evaluation charts as data and as small self-contained SVG: ROC, precision-recall,
calibration, residuals, search history and bar charts.

The curve functions return plain arrays; the ``svg_*`` functions draw them with no library and
no external resource, so a report that inlines them opens anywhere, offline.

Example:
    >>> import numpy as np
    >>> fpr, tpr = roc_points(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    >>> svg_lines([("model", fpr, tpr)], title="ROC", xlabel="FPR", ylabel="TPR")[:4]
    '<svg'
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
from sklearn import metrics as skm

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563",
           "#ca8a04")
WIDTH, HEIGHT = 460, 320
_M = {"left": 58, "right": 16, "top": 34, "bottom": 46}


def roc_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates of a binary score (``y`` in {0, 1})."""
    fpr, tpr, _ = skm.roc_curve(y, score)
    return fpr, tpr


def pr_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision of a binary score, recall increasing."""
    precision, recall, _ = skm.precision_recall_curve(y, score)
    return recall[::-1], precision[::-1]


def calibration_bins(y: np.ndarray, prob: np.ndarray, bins: int = 10
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted probability, observed frequency and row count per probability bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    mean_p, freq, count = [], [], []
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean_p.append(float(prob[mask].mean()))
            freq.append(float(np.asarray(y)[mask].mean()))
            count.append(int(mask.sum()))
    return np.array(mean_p), np.array(freq), np.array(count)


def best_so_far(scores: Sequence[float | None], greater_is_better: bool) -> list[float | None]:
    """The running best of a score sequence (None until the first score)."""
    out: list[float | None] = []
    best: float | None = None
    for s in scores:
        if s is not None and (best is None or (s > best if greater_is_better else s < best)):
            best = s
        out.append(best)
    return out


class _Frame:
    """Maps data coordinates to pixels inside the plotting area."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray, square: bool = False) -> None:
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        self.x0, self.x1 = (0.0, 1.0) if square else _span(xs)
        self.y0, self.y1 = (0.0, 1.0) if square else _span(ys)
        self.w = WIDTH - _M["left"] - _M["right"]
        self.h = HEIGHT - _M["top"] - _M["bottom"]

    def px(self, x: float) -> float:
        return _M["left"] + (x - self.x0) / (self.x1 - self.x0) * self.w

    def py(self, y: float) -> float:
        return _M["top"] + self.h - (y - self.y0) / (self.y1 - self.y0) * self.h


def _span(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    if high == low:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.04
    return low - pad, high + pad


def _tick(v: float) -> str:
    return f"{v:.4g}"


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten apart) inside [low, high].

    Example:
        >>> nice_ticks(-0.16, 4.16)
        [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    span = high - low
    if not np.isfinite(span) or span <= 0:
        return [low]
    raw = span / max(1, most - 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = np.ceil(low / step) * step
    ticks = np.arange(first, high + step * 1e-9, step)
    return [float(round(t / step) * step) + 0.0 for t in ticks]


def _axes(frame: _Frame, title: str, xlabel: str, ylabel: str) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'font-family="system-ui, sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="13" '
             f'font-weight="600">{escape(title)}</text>']
    for x in nice_ticks(frame.x0, frame.x1):
        px = frame.px(x)
        parts.append(f'<line x1="{px:.1f}" y1="{_M["top"]}" x2="{px:.1f}" '
                     f'y2="{HEIGHT - _M["bottom"]}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{px:.1f}" y="{HEIGHT - _M["bottom"] + 14}" '
                     f'text-anchor="middle" fill="#374151">{_tick(x)}</text>')
    for y in nice_ticks(frame.y0, frame.y1):
        py = frame.py(y)
        parts.append(f'<line x1="{_M["left"]}" y1="{py:.1f}" x2="{WIDTH - _M["right"]}" '
                     f'y2="{py:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{_M["left"] - 6}" y="{py + 4:.1f}" text-anchor="end" '
                     f'fill="#374151">{_tick(y)}</text>')
    parts.append(f'<rect x="{_M["left"]}" y="{_M["top"]}" width="{frame.w}" '
                 f'height="{frame.h}" fill="none" stroke="#9ca3af"/>')
    parts.append(f'<text x="{_M["left"] + frame.w / 2}" y="{HEIGHT - 10}" '
                 f'text-anchor="middle" fill="#111827">{escape(xlabel)}</text>')
    parts.append(f'<text transform="translate(14 {_M["top"] + frame.h / 2}) rotate(-90)" '
                 f'text-anchor="middle" fill="#111827">{escape(ylabel)}</text>')
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        y = _M["top"] + 12 + 15 * i
        x = _M["left"] + 10
        parts.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{y + 1}" fill="#111827">{escape(name)}</text>')
    return parts


def _path(frame: _Frame, xs: np.ndarray, ys: np.ndarray) -> str:
    points = [(frame.px(float(x)), frame.py(float(y))) for x, y in zip(xs, ys, strict=True)
              if np.isfinite(x) and np.isfinite(y)]
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in
                    enumerate(points))


def svg_lines(series: Sequence[tuple[str, Any, Any]], *, title: str, xlabel: str,
              ylabel: str, unit_square: bool = False, diagonal: bool = False,
              markers: bool = False) -> str:
    """Line chart of ``(name, xs, ys)`` series; ``unit_square`` fixes both axes to [0, 1]."""
    arrays = [(n, np.asarray(x, float), np.asarray(y, float)) for n, x, y in series]
    all_x = np.concatenate([a[1] for a in arrays]) if arrays else np.zeros(0)
    all_y = np.concatenate([a[2] for a in arrays]) if arrays else np.zeros(0)
    frame = _Frame(all_x, all_y, square=unit_square)
    parts = _axes(frame, title, xlabel, ylabel)
    if diagonal:
        parts.append(f'<line x1="{frame.px(0):.1f}" y1="{frame.py(0):.1f}" '
                     f'x2="{frame.px(1):.1f}" y2="{frame.py(1):.1f}" stroke="#9ca3af" '
                     f'stroke-dasharray="4 4"/>')
    for i, (_, xs, ys) in enumerate(arrays):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<path d="{_path(frame, xs, ys)}" fill="none" stroke="{color}" '
                     f'stroke-width="2"/>')
        if markers:
            parts.extend(f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3" '
                         f'fill="{color}"/>' for x, y in zip(xs, ys, strict=True)
                         if np.isfinite(x) and np.isfinite(y))
    if len(arrays) > 1 or (arrays and arrays[0][0]):
        parts.extend(_legend([a[0] for a in arrays]))
    return "".join(parts) + "</svg>"


def svg_scatter(xs: Any, ys: Any, *, title: str, xlabel: str, ylabel: str,
                groups: Sequence[str] | None = None, zero_line: bool = False,
                max_points: int = 2000) -> str:
    """Scatter plot (at most ``max_points`` evenly chosen points); colours by ``groups``."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    labels = np.asarray(groups if groups is not None else [""] * len(xs), dtype=object)
    if len(xs) > max_points:
        keep = np.linspace(0, len(xs) - 1, max_points).astype(int)
        xs, ys, labels = xs[keep], ys[keep], labels[keep]
    frame = _Frame(xs, ys)
    parts = _axes(frame, title, xlabel, ylabel)
    if zero_line and frame.y0 < 0 < frame.y1:
        parts.append(f'<line x1="{_M["left"]}" y1="{frame.py(0):.1f}" '
                     f'x2="{WIDTH - _M["right"]}" y2="{frame.py(0):.1f}" stroke="#6b7280" '
                     f'stroke-dasharray="4 4"/>')
    names = list(dict.fromkeys(labels.tolist()))
    for x, y, g in zip(xs, ys, labels, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            color = PALETTE[names.index(g) % len(PALETTE)]
            parts.append(f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="2.5" '
                         f'fill="{color}" fill-opacity="0.55"/>')
    if groups is not None:
        parts.extend(_legend([str(n) for n in names]))
    return "".join(parts) + "</svg>"


def svg_bars(labels: Sequence[str], values: Sequence[float], *, title: str,
             xlabel: str) -> str:
    """Horizontal bar chart, one bar per label, in the given order."""
    n = max(1, len(labels))
    row, left, right = 22, 150, 60
    height = _M["top"] + n * row + 34
    vals = np.asarray(values, float)
    top = float(np.nanmax(np.abs(vals))) if vals.size and np.isfinite(vals).any() else 1.0
    top = top or 1.0
    width = WIDTH + 120
    scale = (width - left - right) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
             f'font-family="system-ui, sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="13" '
             f'font-weight="600">{escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, vals, strict=True)):
        y = _M["top"] + i * row
        w = max(0.0, float(value) * scale) if np.isfinite(value) else 0.0
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" '
                     f'fill="#111827">{escape(str(label)[:24])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 7}" '
                     f'fill="{PALETTE[0] if value >= 0 else PALETTE[1]}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" fill="#374151">'
                     f'{_tick(float(value))}</text>')
    parts.append(f'<text x="{left + (width - left - right) / 2}" y="{height - 8}" '
                 f'text-anchor="middle" fill="#111827">{escape(xlabel)}</text>')
    return "".join(parts) + "</svg>"
