"""Inline SVG charts for the workbench pages (no script, no style attribute: the strict CSP allows them).

The data comes aggregated from SQL (counts per day, per series); drawing is a few rectangles with
presentation attributes, and every text is escaped (series names come from logs: model names,
network names are attacker-controlled). ``bars`` colours by severity; ``stacked`` draws any
categories (networks, models) with a legend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from markupsafe import Markup

COLOURS = {
    "critical": "#b00020",
    "high": "#e65100",
    "medium": "#f9a825",
    "low": "#1976d2",
    "info": "#78909c",
    "events": "#455a64",
}


# categorical series (networks, models): Tableau 10, in order of each series' total; others grey
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHERS_COLOUR = "#bab0ac"
LEGEND_W, LEGEND_H, LEGEND_CHARS = 225, 16, 32


def bars(per_day: Sequence[tuple[str, str, int]], label: str, width: int = 900, height: int = 160) -> Markup:
    """A stacked bar chart: (day, series, count) rows, one bar per day, series stacked by COLOURS order."""
    order = list(COLOURS)
    return _draw(per_day, label, order, lambda s: COLOURS.get(s, COLOURS["events"]), False, width, height)


def stacked(
    found: Sequence[Mapping[str, Any]], series: str, label: str, others: str = "", width: int = 900
) -> Markup:
    """A stacked bar chart of categories with a legend: rows with ``day``, ``series`` (a column name:
    ``network``, ``model``) and ``events``, aggregated in SQL. Series are stacked and coloured in
    order of their total (``others``, the rest summed, last and grey); every label is escaped."""
    per_day = [(str(r["day"]), str(r[series]), int(r["events"])) for r in found]
    totals: dict[str, int] = {}
    for _, s, n in per_day:
        totals[s] = totals.get(s, 0) + n
    order = sorted(totals, key=lambda s: (s == others, -totals[s], s))
    colour = {s: OTHERS_COLOUR if s == others else PALETTE[i % len(PALETTE)] for i, s in enumerate(order)}
    return _draw(per_day, label, order, colour.__getitem__, True, width, 160)


def _draw(
    per_day: Sequence[tuple[str, str, int]],
    label: str,
    order: list[str],
    colour_of: Callable[[str], str],
    legend: bool,
    width: int,
    height: int,
) -> Markup:
    """Bars per day stacked in ``order``, each rectangle titled with its day, series and count; with
    ``legend`` a key of the series under the bars (the full name in a title when it is cut)."""
    if not per_day:
        return Markup('<p class="note">Nothing to chart.</p>')
    days = sorted({d for d, _, _ in per_day})
    totals = {d: 0 for d in days}
    for d, _, n in per_day:
        totals[d] += int(n)
    top = max(totals.values()) or 1
    pad, base = 30, height - 22
    per_row = max(1, width // LEGEND_W)
    present = {s for _, s, _ in per_day}
    shown = [s for s in order if s in present] if legend else []
    full = height + (-(-len(shown) // per_row)) * LEGEND_H + (6 if shown else 0)
    step = (width - pad) / len(days)
    bar_w = max(1.0, step * 0.8)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {full}" '
        f'width="100%" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>',
        f'<text x="0" y="12" font-size="11" fill="#555">{top:,}</text>',
        f'<line x1="{pad}" y1="{base}" x2="{width}" y2="{base}" stroke="#999" stroke-width="1"/>',
    ]
    rank = {s: i for i, s in enumerate(order)}
    for i, d in enumerate(days):
        x = pad + i * step
        y = float(base)
        for s, n in sorted(
            ((s, int(n)) for dd, s, n in per_day if dd == d), key=lambda p: rank.get(p[0], len(order))
        ):
            h = (base - 16) * n / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour_of(s)}">'
                f"<title>{escape(d)} {escape(s)}: {n:,}</title></rect>"
            )
        if len(days) <= 31 or i % max(1, len(days) // 15) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 6}" font-size="10" fill="#555">{escape(d[5:])}</text>'
            )
    for i, s in enumerate(shown):
        x, y = (i % per_row) * LEGEND_W + pad, height + 6 + (i // per_row) * LEGEND_H
        cut = s if len(s) <= LEGEND_CHARS else s[: LEGEND_CHARS - 1] + "…"
        parts.append(
            f'<g class="legend"><title>{escape(s)}</title>'
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour_of(s)}"/>'
            f'<text x="{x + 14}" y="{y + 9}" font-size="11" fill="#333">{escape(cut)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def daily(per_day: Sequence[tuple[str, int]], label: str) -> Markup:
    """One series of (day, count) as bars."""
    return bars([(d, "events", n) for d, n in per_day], label)
