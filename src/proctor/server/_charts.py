"""Charts as inline SVG, drawn on the server: no script, no external asset, and every
label escaped. Each chart has a title and a text description of its values, so a screen
reader (or a text browser) gets the figures the bars show.

Sizes come from the ``viewBox``, so a chart keeps its aspect ratio and reserves its space
before it is drawn (no layout jump); colours come from the page's CSS classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

Format = Callable[[float], str]

_WIDTH = 460  # about the width a chart gets on a laptop, so its text stays ~12px


def columns(
    chart_id: str,
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    fmt: Format,
    axis: Format | None = None,
    empty: str = "no data",
    titles: Sequence[str] = (),
) -> Markup:
    """Vertical bars, one per point, left to right (a time axis, a histogram).

    ``fmt`` writes values, ``axis`` the (shorter) axis labels; a ``None`` value draws as
    a gap marker, explained in its tooltip as ``empty``. ``titles`` name the points in
    full (the tooltips and the text description), where their labels are short.
    """
    height, left, bottom, top, right = 200, 62, 32, 12, 6
    plot_w, plot_h = _WIDTH - left - right, height - top - bottom
    values = [v for _, v in points if v is not None]
    peak = _nice(max(values, default=0.0))
    named = [(titles[i] if i < len(titles) else label, v) for i, (label, v) in enumerate(points)]
    parts = _open(chart_id, title, _describe(named, fmt, empty), height)
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{_WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape((axis or fmt)(peak * fraction))}</text>"
        )
    if not points:
        parts.append(_note(left + plot_w / 2, top + plot_h / 2, empty))
    slot = plot_w / max(len(points), 1)
    every = max(1, math.ceil(len(points) / 8))  # at most ~8 axis labels
    for i, (label, value) in enumerate(points):
        x = left + slot * i + slot * 0.15
        width = max(slot * 0.7, 1.0)
        tip = f"{named[i][0]}: {empty if value is None else fmt(value)}"
        if value is None:
            parts.append(
                f'<rect class="gap" x="{x:.1f}" y="{top + plot_h - 2:.1f}" width="{width:.1f}" '
                f'height="2"><title>{escape(tip)}</title></rect>'
            )
        else:
            h = plot_h * (value / peak) if peak > 0 else 0.0
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{width:.1f}" '
                f'height="{max(h, 0.5):.1f}"><title>{escape(tip)}</title></rect>'
            )
        if i % every == 0:
            # Centred under its bar, but never past the edge (about 7 units a character).
            centre = min(x + width / 2, _WIDTH - 1 - len(label) * 3.5)
            parts.append(
                f'<text class="axis" x="{centre:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(
    chart_id: str,
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    fmt: Format,
    empty: str = "none",
) -> Markup:
    """Horizontal bars, one per item, top to bottom, each labelled with its value."""
    row, top, label_w, value_w = 28, 8, 150, 50
    height = top * 2 + row * max(len(items), 1)
    plot_w = _WIDTH - label_w - value_w
    peak = max((v for _, v in items), default=0.0)
    parts = _open(chart_id, title, _describe(items, fmt, empty), height)
    if not items:
        parts.append(_note(_WIDTH / 2, height / 2 + 4, empty))
    for i, (label, value) in enumerate(items):
        y = top + row * i
        w = plot_w * value / peak if peak > 0 else 0.0
        shown = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(shown)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 5}" width="{max(w, 1.0):.1f}" '
            f'height="{row - 10}"><title>{escape(f"{label}: {fmt(value)}")}</title></rect>'
            f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + row / 2 + 4:.1f}">'
            f"{escape(fmt(value))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(chart_id: str, title: str, description: str, height: int) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg class="chart" id="{cid}" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-labelledby="{cid}-t {cid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(title)}</title><desc id="{cid}-d">{escape(description)}'
        "</desc>"
    ]


def _note(x: float, y: float, text: str) -> str:
    return f'<text class="note" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(text)}</text>'


def _describe(points: Sequence[tuple[str, float | None]], fmt: Format, empty: str) -> str:
    if not points:
        return empty
    return "; ".join(f"{label}: {empty if v is None else fmt(v)}" for label, v in points)


def _nice(peak: float) -> float:
    """The axis top: ``peak`` rounded up to 1, 2 or 5 times a power of ten."""
    if peak <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(peak))
    for step in (1, 2, 5, 10):
        if peak <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns
