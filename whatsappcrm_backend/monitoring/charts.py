"""Small server-side SVG charts for the dashboard: no JavaScript, no CDN, nothing to build.

Every label is escaped; the numbers are formatted by us, so the markup is safe to embed.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 26, 34
COLOURS = ("#2e7d32", "#c62828", "#1565c0", "#ef6c00")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    magnitude = 10 ** (len(str(int(value))) - 1)
    return float(-(-value // magnitude) * magnitude)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _frame(title: str, labels: Sequence[str], top_value: float, unit: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for i in range(5):
        value = top_value * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
    step = max(1, len(labels) // 6)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if unit:
        parts.append(f'<text x="4" y="{TOP - 6}" class="axis">{escape(unit)}</text>')
    return parts


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Sequence[float]],
    *,
    series_names: Sequence[str],
    title: str,
    unit: str = "",
) -> SafeString:
    """Stacked bars, one per label; ``series`` are stacked bottom-up in order."""
    totals = [sum(values[i] for values in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    parts = _frame(title, labels, top_value, unit)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1)
    for i, label in enumerate(labels):
        base = 0.0
        x = LEFT + slot * i + (slot - bar_w) / 2
        for index, values in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y = TOP + plot_h - plot_h * base / top_value - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[index % len(COLOURS)]}"><title>{escape(label)}: '
                f"{escape(series_names[index])} {_fmt(value)}</title></rect>"
            )
            base += value
    parts += _legend(series_names)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped labels and numbers


def line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
) -> SafeString:
    """A line through the known values; days without data are gaps, not zeros."""
    known = [v for v in values if v is not None]
    top_value = max_value if max_value is not None else _nice_max(max(known, default=0))
    parts = _frame(title, labels, top_value, unit)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    segment: list[str] = []
    segments: list[list[str]] = []
    points = []
    for i, value in enumerate(values):
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        x = LEFT + slot * (i + 0.5)
        y = TOP + plot_h - plot_h * min(value, top_value) / top_value
        segment.append(f"{x:.1f},{y:.1f}")
        points.append((x, y, labels[i], value))
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline points="{" ".join(seg)}" fill="none" stroke="{COLOURS[2]}" '
            'stroke-width="2"/>'
        )
    for x, y, label, value in points:
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[2]}">'
            f"<title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></circle>"
        )
    if not points:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" class="axis" '
            'text-anchor="middle">no data yet</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped labels and numbers


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    x = WIDTH - RIGHT - 150 * len(names)
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{x}" y="7" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="16" class="axis">{escape(name)}</text>'
        )
        x += 150
    return parts
