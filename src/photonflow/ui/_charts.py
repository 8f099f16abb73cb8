"""Small inline-SVG charts (histograms, traces): pure functions, no plotting library, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import numpy as np

__all__ = ["histogram_svg", "trace_svg"]

_W, _H, _PAD = 320, 160, 30
_COLOURS = ("#d9480f", "#1971c2", "#2f9e44", "#ae3ec9")


def _axis_labels(lo: float, hi: float, label: str) -> str:
    return (
        f'<text x="{_PAD}" y="{_H - 8}" font-size="10">{lo:.4g}</text>'
        f'<text x="{_W - 5}" y="{_H - 8}" font-size="10" text-anchor="end">{hi:.4g}</text>'
        f'<text x="{_W / 2}" y="{_H - 8}" font-size="11" text-anchor="middle">{escape(label)}</text>'
    )


def histogram_svg(values: np.ndarray, *, label: str, bins: int = 40, clip_percentile: float = 99.5) -> str:
    """A histogram of the finite ``values`` as an SVG element; the top ``100 − clip_percentile`` % are clipped off."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    head = f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_W} {_H}" role="img" ' \
           f'aria-label="histogram of {escape(label)}">'
    if data.size == 0:
        return head + f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no finite {escape(label)}</text></svg>'
    lo = float(data.min())
    hi = float(np.percentile(data, clip_percentile))
    if hi <= lo:
        hi = lo + 1.0
    counts, _ = np.histogram(data, bins=bins, range=(lo, hi))
    peak = max(int(counts.max()), 1)
    plot_w, plot_h = _W - _PAD - 5, _H - _PAD - 5
    bar_w = plot_w / bins
    bars = "".join(
        f'<rect x="{_PAD + i * bar_w:.1f}" y="{5 + plot_h * (1 - c / peak):.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
        f'height="{plot_h * c / peak:.1f}" fill="{_COLOURS[0]}"/>'
        for i, c in enumerate(counts)
    )
    median = float(np.median(data))
    return (
        head + bars + _axis_labels(lo, hi, f"{label} (median {median:.4g})")
        + f'<text x="{_PAD - 3}" y="12" font-size="10" text-anchor="end">{peak}</text></svg>'
    )


def trace_svg(x: np.ndarray, series: Mapping[str, np.ndarray], *, label: str) -> str:
    """Lines of each of ``series`` (same length as ``x``) against ``x``, with a legend."""
    xs = np.asarray(x, dtype=np.float64)
    head = f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_W} {_H}" role="img" ' \
           f'aria-label="{escape(label)}">'
    if xs.size < 2:
        return head + f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">too few points</text></svg>'
    all_y = np.concatenate([np.asarray(v, dtype=np.float64) for v in series.values()])
    y_lo, y_hi = float(np.nanmin(all_y)), float(np.nanmax(all_y))
    if y_hi <= y_lo:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    x_lo, x_hi = float(xs[0]), float(xs[-1]) if xs[-1] > xs[0] else float(xs[0]) + 1
    plot_w, plot_h = _W - _PAD - 5, _H - _PAD - 5
    step = max(1, xs.size // 400)  # at most ~400 points per line: the SVG stays small
    parts = [head]
    for k, (name, values) in enumerate(series.items()):
        ys = np.asarray(values, dtype=np.float64)[::step]
        px = _PAD + (xs[::step] - x_lo) / (x_hi - x_lo) * plot_w
        py = 5 + (1 - (ys - y_lo) / (y_hi - y_lo)) * plot_h
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True) if np.isfinite(b))
        colour = _COLOURS[k % len(_COLOURS)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{_PAD + 5 + 60 * k}" y="14" font-size="11" fill="{colour}">{escape(name)}</text>')
    parts.append(_axis_labels(x_lo, x_hi, label))
    parts.append(f'<text x="{_PAD - 3}" y="12" font-size="10" text-anchor="end">{y_hi:.3g}</text>')
    parts.append(f'<text x="{_PAD - 3}" y="{_H - _PAD}" font-size="10" text-anchor="end">{y_lo:.3g}</text></svg>')
    return "".join(parts)
