"""The case file's three charts as inline SVG, drawn in Python: deterministic, offline, no JS needed.

- org chart: the crew by tier (creators -> providers -> users), joined by org-chart bus lines, as in
  the chart Microsoft published with its Storm-2139 disclosure;
- link chart: victims' keys <-> network addresses and hosts <-> software, lines as thick as the
  number of events behind them;
- timeline: one lane per stolen key, a marker per stage (leak, key check, models switched on, use,
  safety controls weakened).

Every string from the workspace goes through ``esc`` (log fields are attacker-controlled: a user agent
can hold markup). Colours are presentation attributes, never ``style=``, so the page's strict CSP
(no inline style attributes) holds.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timedelta
from typing import Any

from ringbreaker.model import Role

ROLE_COLOURS = {Role.CREATOR: "#6d28d9", Role.PROVIDER: "#c2410c", Role.USER: "#1d4ed8"}
TIER_LABELS = {Role.CREATOR: "Creators", Role.PROVIDER: "Providers", Role.USER: "Users"}
TIER_NOTES = {
    Role.CREATOR: "wrote and published the tools",
    Role.PROVIDER: "ran the service, pooled the stolen keys",
    Role.USER: "bought access, sent the requests",
}
KIND_NAMES = {
    "person": "person",
    "account": "account",
    "end_user": "customer account",
    "tool": "tool",
    "user_agent": "software",
    "ip": "network address",
    "proxy_host": "proxy host",
}
STAGE_STYLE = {  # stage -> (colour, shape)
    "leak": ("#b91c1c", "diamond"),
    "key-check": ("#d97706", "triangle"),
    "model-enablement": ("#0891b2", "square"),
    "abuse": ("#1d4ed8", "circle"),
    "guardrail-tampering": ("#111827", "cross"),
    "prohibited-content": ("#be185d", "star"),
}
MAX_MARKERS = 400  # timeline markers drawn; beyond, the first and last step of each kind per key
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""


def esc(value: object) -> str:
    """Escape text for SVG/HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def plural(n: int, noun: str) -> str:
    """'1 network address', '2 network addresses'."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}{'es' if noun.endswith(('s', 'x', 'sh', 'ch')) else 's'}"


def short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg(width: int, height: int, body: list[str], label: str, cls: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {cls}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(label)}" {FONT}>'
        + "".join(body)
        + "</svg>"
    )


def _box(x: float, y: float, w: float, h: float, fill: str, title: str, lines: list[str], cls: str) -> str:
    """A rounded box with one or two lines of text and a hover title."""
    out = [f'<g class="{cls}"><title>{esc(title)}</title>']
    out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="{fill}"/>')
    cx = x + w / 2
    if len(lines) == 1:
        out.append(
            f'<text x="{cx:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle" fill="#fff" font-size="12" '
            f'font-weight="600">{esc(lines[0])}</text>'
        )
    else:
        out.append(
            f'<text x="{cx:.1f}" y="{y + h / 2 - 3:.1f}" text-anchor="middle" fill="#fff" font-size="12" '
            f'font-weight="600">{esc(lines[0])}</text>'
        )
        out.append(
            f'<text x="{cx:.1f}" y="{y + h / 2 + 12:.1f}" text-anchor="middle" fill="#fff" font-size="10" '
            f'opacity="0.85">{esc(lines[1])}</text>'
        )
    out.append("</g>")
    return "".join(out)


# -- org chart -------------------------------------------------------------------------------------


def _tier_entities(members: list[dict[str, Any]], role: Role) -> tuple[list[dict[str, Any]], list[str]]:
    """The boxes of a tier (people and accounts first; else whatever the tier has) and a note on the rest."""
    people = [m for m in members if m["kind"] in ("person", "account", "end_user")]
    rest = [m for m in members if m not in people]
    if not people:
        return rest, []
    kinds: dict[str, int] = {}
    for m in rest:
        kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
    note = [plural(n, KIND_NAMES.get(k, k)) for k, n in sorted(kinds.items())]
    return people, note


def org_chart(members: dict[str, list[dict[str, Any]]], width: int = 1000) -> str:
    """Creators -> providers -> users, one row of boxes per tier (users wrap), bus lines between tiers."""
    box_w, box_h, gap, per_row, max_boxes = 140.0, 44.0, 14.0, 5, 15
    left = 215.0
    body: list[str] = []
    y = 20.0
    tier_boxes: list[list[tuple[float, float]]] = []  # box centres (x, top y) per tier
    tier_bottoms: list[float] = []  # bottom of each tier's boxes
    bars: list[float] = []  # y of the bus bar below each tier
    for role in Role:
        ents, note = _tier_entities(members.get(role, []), role)
        colour = ROLE_COLOURS[role]
        shown = ents[:max_boxes]
        rows = max(1, math.ceil(len(shown) / per_row))
        extra = (["Also attributed:", *note] if note else []) + (
            [f"+{len(ents) - max_boxes} more in the evidence tables"] if len(ents) > max_boxes else []
        )
        tier_h = max(rows * (box_h + gap) - gap, 44 + 14 * len(extra)) + 6
        text_lines = "".join(
            f'<text x="24" y="{y + 56 + 14 * i:.1f}" font-size="11" fill="#374151">{esc(t)}</text>'
            for i, t in enumerate(extra)
        )
        body.append(
            f'<g class="tier tier-{role}"><rect x="8" y="{y - 8:.1f}" width="{width - 16}" '
            f'height="{tier_h + 8:.1f}" rx="10" fill="{colour}" fill-opacity="0.06" stroke="{colour}" '
            f'stroke-opacity="0.25"/>'
            f'<text x="24" y="{y + 18:.1f}" font-size="16" font-weight="700" fill="{colour}">'
            f"{TIER_LABELS[role]}</text>"
            f'<text x="24" y="{y + 36:.1f}" font-size="11" fill="#374151">{esc(TIER_NOTES[role])}</text>'
            f"{text_lines}</g>"
        )
        centres: list[tuple[float, float]] = []
        if not shown:
            body.append(
                f'<text x="{left}" y="{y + 26:.1f}" font-size="12" fill="#6b7280" font-style="italic">'
                "none identified</text>"
            )
        for i, m in enumerate(shown):
            r, c = divmod(i, per_row)
            n_in_row = min(per_row, len(shown) - r * per_row)
            row_w = n_in_row * box_w + (n_in_row - 1) * gap
            x0 = left + (width - left - 20 - row_w) / 2
            bx, by = x0 + c * (box_w + gap), y + r * (box_h + gap)
            title = (
                f"{m['entity']} ({KIND_NAMES.get(m['kind'], m['kind'])}, {role}, "
                f"confidence {m['confidence']:.0%}): {m['evidence']}"
            )
            label = [short(m["entity"], 16), KIND_NAMES.get(m["kind"], m["kind"])]
            body.append(_box(bx, by, box_w, box_h, colour, title, label, "member"))
            centres.append((bx + box_w / 2, by))
        tier_boxes.append(centres)
        tier_bottoms.append(y + rows * (box_h + gap) - gap)
        bars.append(y + tier_h + 16)
        y += tier_h + 40
    # Bus lines: parent tier -> bar -> each box of the child tier (top row joins the bar directly).
    lines = []
    for t in range(2):
        parents, children = tier_boxes[t], tier_boxes[t + 1]
        if not parents or not children:
            continue
        bar_y = bars[t]
        xs = [p[0] for p in parents] + [c[0] for c in children]
        lines.append(f'<line x1="{min(xs):.1f}" y1="{bar_y:.1f}" x2="{max(xs):.1f}" y2="{bar_y:.1f}"/>')
        lines += [
            f'<line x1="{px:.1f}" y1="{tier_bottoms[t]:.1f}" x2="{px:.1f}" y2="{bar_y:.1f}"/>'
            for px, _ in parents
        ]
        top = min(cy for _, cy in children)
        lines += [
            f'<line x1="{cx:.1f}" y1="{bar_y:.1f}" x2="{cx:.1f}" y2="{cy:.1f}"/>'
            for cx, cy in children
            if cy == top
        ]
    body.insert(
        0, '<g class="bus" stroke="#6b7280" stroke-width="1.5" fill="none">' + "".join(lines) + "</g>"
    )
    return _svg(width, int(y), body, "Organisation chart of the crew by tier", "org-chart")


# -- link chart ------------------------------------------------------------------------------------


def link_chart(infra: dict[str, Any], width: int = 1000) -> str:
    """Three columns: victims' keys, network addresses and hosts, software; edges weighted by events."""
    cols = {"key": 0, "ip": 1, "proxy_host": 1, "tool": 2}
    heads = ["Victims' stolen keys", "Addresses and hosts the group used", "Software the group ran"]
    colours = {"key": "#b91c1c", "ip": "#c2410c", "proxy_host": "#9a3412", "tool": "#6d28d9"}
    xs = [30.0, width / 2 - 115, width - 260.0]
    node_w, node_h, step, top = 230.0, 36.0, 46.0, 50.0
    pos: dict[str, tuple[float, float]] = {}
    counts = [0, 0, 0]
    body = [
        f'<text x="{xs[i] + node_w / 2:.1f}" y="24" text-anchor="middle" font-size="14" font-weight="700" '
        f'fill="#111827">{esc(h)}</text>'
        for i, h in enumerate(heads)
    ]
    boxes = []
    for n in infra["nodes"]:
        c = cols.get(n["kind"])
        if c is None:
            continue
        x, y = xs[c], top + counts[c] * step
        counts[c] += 1
        pos[n["id"]] = (x, y)
        sub = n["detail"] or (
            f"{n['events']:,} events" if n["events"] else KIND_NAMES.get(n["kind"], n["kind"])
        )
        title = f"{n['label']} ({KIND_NAMES.get(n['kind'], n['kind'])}) {n['detail']} {n['events']:,} events"
        boxes.append(
            _box(
                x,
                y,
                node_w,
                node_h,
                colours[n["kind"]],
                title,
                [short(n["label"], 30), short(sub, 36)],
                f"node node-{n['kind']}",
            )
        )
    height = int(top + max([*counts, 1]) * step + 10)
    if not infra["nodes"]:
        body.append(
            f'<text x="{width / 2}" y="80" text-anchor="middle" font-size="13" fill="#6b7280">'
            "No infrastructure recorded for this crew.</text>"
        )
        height = 110
    peak = max([e["events"] for e in infra["edges"]] + [1])
    paths = []
    for e in infra["edges"]:
        if e["source"] not in pos or e["target"] not in pos:
            continue
        (sx, sy), (tx, ty) = pos[e["source"]], pos[e["target"]]
        if sx > tx:
            (sx, sy), (tx, ty) = (tx, ty), (sx, sy)
        x1, y1, x2, y2 = sx + node_w, sy + node_h / 2, tx, ty + node_h / 2
        mid = (x1 + x2) / 2
        w = 1 + 5 * math.log1p(e["events"]) / math.log1p(peak)
        paths.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            f'stroke-width="{w:.2f}"><title>{e["events"]:,} events</title></path>'
        )
    hidden = infra.get("hidden") or {}
    if hidden:
        note = "Not drawn (fewer events): " + ", ".join(
            plural(n, KIND_NAMES.get(k, k)) for k, n in sorted(hidden.items())
        )
        body.append(f'<text x="30" y="{height + 4}" font-size="11" fill="#374151">{esc(note)}</text>')
        height += 16
    edge_g = '<g class="edges" fill="none" stroke="#9ca3af" stroke-opacity="0.8">' + "".join(paths) + "</g>"
    return _svg(
        width, height, [edge_g, *body, *boxes], "Link chart of the crew's infrastructure", "link-chart"
    )


# -- timeline --------------------------------------------------------------------------------------


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "diamond":
        d = f"M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y:.1f} L{x:.1f},{y + 7:.1f} L{x - 7:.1f},{y:.1f} Z"
        return f'<path d="{d}" fill="{colour}"/>'
    if shape == "triangle":
        d = f"M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y + 6:.1f} L{x - 7:.1f},{y + 6:.1f} Z"
        return f'<path d="{d}" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" fill="{colour}"/>'
    if shape == "cross":
        return (
            f'<path d="M{x - 6:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 6:.1f} M{x + 6:.1f},{y - 6:.1f} '
            f'L{x - 6:.1f},{y + 6:.1f}" stroke="{colour}" stroke-width="3"/>'
        )
    if shape == "star":
        pts = " ".join(
            f"{x + (7 if i % 2 == 0 else 3) * math.sin(i * math.pi / 5):.1f},"
            f"{y - (7 if i % 2 == 0 else 3) * math.cos(i * math.pi / 5):.1f}"
            for i in range(10)
        )
        return f'<polygon points="{pts}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>'


def timeline_chart(
    timeline: list[dict[str, Any]], keys: list[dict[str, Any]], stage_names: dict[str, str], width: int = 1000
) -> str:
    """One lane per key (and one for crew-wide steps); markers per stage on a shared time axis."""
    legend_h, lane_h, left, right = 56.0, 34.0, 230.0, 40.0
    body: list[str] = []
    for i, (stage, name) in enumerate(stage_names.items()):
        colour, shape = STAGE_STYLE.get(stage, ("#374151", "circle"))
        lx, ly = 20 + (i % 3) * 320, 16 + (i // 3) * 22
        body.append(
            f'<g class="legend">{_marker(shape, lx + 6, ly, colour)}<text x="{lx + 20}" y="{ly + 4}" '
            f'font-size="12" fill="#111827">{esc(name)}</text></g>'
        )
    if not timeline:
        body.append(
            f'<text x="{width / 2}" y="{legend_h + 30}" text-anchor="middle" font-size="13" fill="#6b7280">'
            "No timeline was recorded for this crew.</text>"
        )
        return _svg(width, int(legend_h + 50), body, "Timeline (empty)", "timeline-chart")
    dropped = 0
    if len(timeline) > MAX_MARKERS:  # keep the first and last step of each kind per key
        ends: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
        for t in timeline:
            ends.setdefault((t["key_fingerprint"], t["stage"]), []).append(t)
        kept = [r for rows in ends.values() for r in {id(x): x for x in (rows[0], rows[-1])}.values()]
        dropped, timeline = len(timeline) - len(kept), sorted(kept, key=lambda t: t["time"])
    times = [_parse(t["time"]) for t in timeline]
    t0, t1 = min(times), max(times)
    if t1 - t0 < timedelta(hours=1):
        t1 = t0 + timedelta(hours=1)
    span = (t1 - t0).total_seconds()
    plot_w = width - left - right

    def xat(t: datetime) -> float:
        return left + plot_w * (t - t0).total_seconds() / span

    lanes: list[str | None] = []
    previews = {k["fingerprint"]: k for k in keys}
    for t in timeline:
        if t["key_fingerprint"] not in lanes:
            lanes.append(t["key_fingerprint"])
    lanes.sort(
        key=lambda fp: (fp is None, min(_parse(t["time"]) for t in timeline if t["key_fingerprint"] == fp))
    )
    top = legend_h + 20
    height = top + len(lanes) * lane_h + 56
    # gridlines: the finest step that gives at most 10 ticks
    hours = next((h for h in (1, 3, 6, 12, 24, 48, 168, 720) if span / 3600 / h <= 10), 2160)
    tick = datetime(t0.year, t0.month, t0.day) + timedelta(
        hours=hours * math.ceil((t0 - datetime(t0.year, t0.month, t0.day)).total_seconds() / 3600 / hours)
    )
    grid = []
    while tick <= t1:
        x = xat(tick)
        label = f"{tick:%d %b}" if hours >= 24 or (tick.hour == 0) else f"{tick:%H:%M}"
        grid.append(
            f'<line x1="{x:.1f}" y1="{top - 6:.1f}" x2="{x:.1f}" y2="{height - 44:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{x:.1f}" y="{height - 30:.1f}" text-anchor="middle" font-size="11" fill="#374151"'
            f' font-weight="{700 if tick.hour == 0 else 400}">{label}</text>'
        )
        tick += timedelta(hours=hours)
    body.append('<g class="grid">' + "".join(grid) + "</g>")
    for i, fp in enumerate(lanes):
        y = top + i * lane_h + lane_h / 2
        k = previews.get(fp or "")
        label = (
            "Whole crew"
            if fp is None
            else (f"{k['preview']} ({k['victim']})" if k else (fp or "")[:12] + "…")
        )
        body.append(
            f'<g class="lane"><line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            'stroke="#d1d5db"/>'
            f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#111827">'
            f"{esc(short(label, 34))}</text></g>"
        )
        rows = [t for t in timeline if t["key_fingerprint"] == fp]
        leak = next((t for t in rows if t["stage"] == "leak"), None)
        check = next((t for t in rows if t["stage"] != "leak"), None)
        if leak and check:  # the leak-to-use gap, the figure a reader looks for first
            xa, xb = xat(_parse(leak["time"])), xat(_parse(check["time"]))
            body.append(
                f'<line x1="{xa:.1f}" y1="{y:.1f}" x2="{xb:.1f}" y2="{y:.1f}" stroke="#b91c1c" '
                'stroke-width="3"/>'
            )
            gap = (_parse(check["time"]) - _parse(leak["time"])).total_seconds() / 60
            anchor, tx = ("end", xa - 12) if xb > width - right - 170 else ("start", xb + 12)
            body.append(
                f'<text x="{tx:.1f}" y="{y - 8:.1f}" font-size="10" fill="#b91c1c" text-anchor="{anchor}">'
                f"used {gap:.0f} min after the leak</text>"
            )
        for t in rows:
            colour, shape = STAGE_STYLE.get(t["stage"], ("#374151", "circle"))
            x = xat(_parse(t["time"]))
            title = f"{t['time']} {stage_names.get(t['stage'], t['stage'])}: {t['description']}"
            body.append(
                f'<g class="event stage-{esc(t["stage"])}"><title>{esc(title)}</title>'
                f"{_marker(shape, x, y, colour)}</g>"
            )
    body.append(
        f'<text x="{left}" y="{height - 8:.1f}" font-size="11" fill="#6b7280">'
        f"{t0:%d %b %Y %H:%M} UTC → {t1:%d %b %Y %H:%M} UTC"
        + (f" · {dropped:,} repeated steps not drawn (first and last of each kind are)" if dropped else "")
        + "</text>"
    )
    return _svg(width, int(height), body, "Timeline from leak to abuse", "timeline-chart")
