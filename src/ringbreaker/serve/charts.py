"""Inline SVG charts for the workbench pages (no script, no style attribute: the strict CSP allows them).

The data comes aggregated from SQL (counts per day); drawing is a few rectangles with presentation
attributes, and every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

COLOURS = {
    "critical": "#b00020",
    "high": "#e65100",
    "medium": "#f9a825",
    "low": "#1976d2",
    "info": "#78909c",
    "events": "#455a64",
}


def bars(per_day: Sequence[tuple[str, str, int]], label: str, width: int = 900, height: int = 160) -> Markup:
    """A stacked bar chart: (day, series, count) rows, one bar per day, series stacked by COLOURS order."""
    if not per_day:
        return Markup('<p class="note">Nothing to chart.</p>')
    days = sorted({d for d, _, _ in per_day})
    totals = {d: 0 for d in days}
    for d, _, n in per_day:
        totals[d] += int(n)
    top = max(totals.values()) or 1
    pad, base = 30, height - 22
    step = (width - pad) / len(days)
    bar_w = max(1.0, step * 0.8)
    order = list(COLOURS)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>',
        f'<text x="0" y="12" font-size="11" fill="#555">{top:,}</text>',
        f'<line x1="{pad}" y1="{base}" x2="{width}" y2="{base}" stroke="#999" stroke-width="1"/>',
    ]
    for i, d in enumerate(days):
        x = pad + i * step
        y = float(base)
        for series, n in sorted(
            ((s, int(n)) for dd, s, n in per_day if dd == d),
            key=lambda p: order.index(p[0]) if p[0] in order else len(order),
        ):
            h = (base - 16) * n / top
            y -= h
            colour = COLOURS.get(series, COLOURS["events"])
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(d)} {escape(series)}: {n:,}</title></rect>"
            )
        if len(days) <= 31 or i % max(1, len(days) // 15) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 6}" font-size="10" fill="#555">{escape(d[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def daily(per_day: Sequence[tuple[str, int]], label: str) -> Markup:
    """One series of (day, count) as bars."""
    return bars([(d, "events", n) for d, n in per_day], label)
