"""case.html: one self-contained page that opens offline and reads well to a non-technical reader.

Order: what happened (executive summary and headline figures), who (org chart), how (link chart),
when (timeline), the stolen keys, the cost, what to do, then the evidence tables and what the case
cannot show. Charts are inline SVG (see svg.py); CSS and a few lines of JS (table sorting and
filtering) are package files (``case/static/``) inlined into the page and allowed by hash in a
strict Content-Security-Policy: nothing loads from anywhere, no inline event handlers or style
attributes exist, and every value is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from typing import Any

from ringbreaker.case.build import ROLE_NAMES, STAGES, when_text
from ringbreaker.case.svg import esc, link_chart, org_chart, timeline_chart
from ringbreaker.model import Case

TIMELINE_ROWS = 1000  # rows of the timeline table; case.json has them all
DASH = "\u2013"  # shown for an empty cell
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _static(name: str) -> str:
    """A file of ``case/static`` (package data), read as it is: its bytes are what the CSP hashes."""
    return (files("ringbreaker.case") / "static" / name).read_bytes().decode("utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Inlined into every page (the case file opens offline, so nothing is linked), and allowed by hash.
CSS = _static("case.css")
JS = _static("case.js")
CSP = (
    f"default-src 'none'; style-src {_hash(CSS)}; script-src {_hash(JS)}; base-uri 'none'; form-action 'none'"
)


def _table(tid: str, heads: list[tuple[str, bool]], rows: list[list[Any]], filter_: bool = True) -> str:
    """A sortable table; heads are (title, numeric). Cells are escaped here; pass str/int/float/None."""
    if not rows:
        return '<p class="note">None.</p>'
    th = "".join(f'<th class="{"num" if num else ""}">{esc(h)}</th>' for h, num in heads)
    body = []
    for r in rows:
        cells = []
        for (_, num), v in zip(heads, r, strict=True):
            if v is None:
                cells.append(f'<td data-v="">{DASH}</td>')
            elif num and isinstance(v, int | float):
                shown = f"{v:,.2f}" if isinstance(v, float) else f"{v:,}"
                cells.append(f'<td class="num" data-v="{v}">{shown}</td>')
            else:
                text = str(v)
                cls = ""
                if _TS.fullmatch(text):
                    text, cls = text[:19].replace("T", " "), ' class="when"'
                elif len(text) > 20 and " " not in text:
                    cls = ' class="mono"'
                cells.append(f"<td{cls}>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    flt = (
        f'<input class="filter" type="search" data-table="{tid}" placeholder="Filter this table…" '
        f'aria-label="Filter table">'
        if filter_ and len(rows) > 5
        else ""
    )
    return (
        f'{flt}<table id="{tid}" class="sortable"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _ids(ids: list[str], n: int = 3) -> str:
    return ", ".join(ids[:n]) + (f" (+{len(ids) - n})" if len(ids) > n else "")


def _money(v: float | None) -> str:
    return DASH if v is None else f"${v:,.2f}"


def render_html(case: Case) -> str:
    """The whole page as one string."""
    crew, s, cost, act = case["crew"], case["summary"], case["cost"], case["actions"]
    parts: list[str] = []
    parts.append(
        f'<header><p class="sub">Case file · prepared by {esc(case["generator"])} on '
        f"{esc(when_text(case['generated_at']))}"
        f"</p><h1>The \u201c{esc(crew['name'])}\u201d crew</h1>"
        f'<p class="sub">Crew id <code>{esc(crew["id"])}</code> · {esc(crew["summary"])}</p></header>'
    )
    parts.append('<section id="summary" class="summary"><h2>What happened</h2>')
    parts.append("".join(f'<p class="lead">{esc(t)}</p>' for t in s["text"]))
    cards = [
        (s["keys"], "stolen keys used"),
        (s["victims"], "victim organisations"),
        (s["creators"] + s["providers"], "operators (creators and providers)"),
        (s["users"], "customers of the service"),
        (
            DASH if s["median_minutes_to_abuse"] is None else f"{s['median_minutes_to_abuse']:.0f} min",
            "median time from leak to first use",
        ),
        (_money(s["cost_usd_estimated"]), "estimated cost to victims"),
    ]
    parts.append(
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{esc(v)}</b><span>{esc(label)}</span></div>' for v, label in cards)
        + "</div></section>"
    )

    parts.append(
        '<section id="org"><h2>Who is involved</h2><p class="explain">How the group is organised, in three '
        "tiers. "
        "<b>Creators</b> wrote and published the software. <b>Providers</b> ran it as a service, pooled "
        "keys stolen "
        "from several victims and resold access. <b>Users</b> bought that access and sent the requests. "
        "Names are "
        "the handles and account identifiers seen in the evidence; hover over a box for the reason it is "
        "there.</p>" + org_chart(case["members"]) + "</section>"
    )
    parts.append(
        '<section id="infrastructure"><h2>How the operation was set up</h2><p class="explain">Each line '
        "links a "
        "stolen key to a network address that used it, and that address to the software it identified itself "
        "with. Thicker lines mean more requests. Addresses ending in *** were partly hidden by the cloud "
        "provider's own logs.</p>"
        + link_chart(case["infrastructure"])
        + _shared_and_pool(case["infrastructure"])
        + "</section>"
    )
    parts.append(
        '<section id="timeline"><h2>What happened, in order</h2><p class="explain">One line per stolen key. '
        "The red bar is the time between the key appearing in public code and the group's first use of "
        "it.</p>"
        + timeline_chart(case["timeline"], case["keys"], STAGES)
        + _table(
            "timeline-table",
            [
                ("When (UTC)", False),
                ("Step", False),
                ("Key", False),
                ("What the records show", False),
                ("Evidence", False),
            ],
            [
                [
                    t["time"],
                    t["stage_name"],
                    _preview(case, t["key_fingerprint"]),
                    t["description"],
                    _ids(t["evidence_ids"]),
                ]
                for t in case["timeline"][:TIMELINE_ROWS]
            ],
        )
        + (
            f'<p class="note">{len(case["timeline"]) - TIMELINE_ROWS:,} later steps are listed in '
            "case.json.</p>"
            if len(case["timeline"]) > TIMELINE_ROWS
            else ""
        )
        + "</section>"
    )
    parts.append(
        '<section id="keys"><h2>The stolen keys</h2><p class="explain">An API key is a password that lets a '
        "program "
        "use a paid AI service on the owner's account. Keys are shown only in shortened form (the first "
        "characters "
        "and the length) with a fingerprint that identifies them without revealing them.</p>"
        + _table(
            "keys-table",
            [
                ("Key (shortened)", False),
                ("Service", False),
                ("Owner (victim)", False),
                ("Published at", False),
                ("Published (UTC)", False),
                ("First used by the group (UTC)", False),
                ("Minutes", True),
                ("Requests", True),
                ("Fingerprint (SHA-256)", False),
            ],
            [
                [
                    k["preview"],
                    k["provider"],
                    k["victim"],
                    k["leak_location"],
                    k["leak_time"],
                    k["first_abuse"],
                    None if k["minutes_to_abuse"] is None else float(k["minutes_to_abuse"]),
                    k["events"],
                    k["fingerprint"],
                ]
                for k in case["keys"]
            ],
        )
        + "</section>"
    )
    parts.append(
        '<section id="cost"><h2>What it cost the victims</h2>'
        f'<p class="lead">Estimated cost: <b>{_money(cost["total_usd_estimated"])}</b>, of which '
        f"<b>{_money(cost['total_usd_metered'])}</b> is recorded token by token in the logs.</p>"
        f'<p class="explain">{esc(cost["method"])}</p>'
        + _table(
            "cost-table",
            [
                ("AI model", False),
                ("Requests", True),
                ("Not metered", True),
                ("Tokens in", True),
                ("Tokens out", True),
                ("List price", False),
                ("Recorded cost (USD)", True),
                ("Estimated cost (USD)", True),
            ],
            [
                [
                    c["model"],
                    c["requests"],
                    c["unmetered_requests"],
                    c["tokens_in"],
                    c["tokens_out"],
                    c.get("price_basis") or "no list price known",
                    c["usd_metered"],
                    c["usd_estimated"],
                ]
                for c in cost["by_model"]
            ],
            filter_=False,
        )
        + '<p class="note">Price table dated '
        + esc(cost["price_table_as_of"])
        + "; sources: "
        + ", ".join(esc(u) for u in cost["sources"].values())
        + "</p></section>"
    )
    parts.append(_actions(act))
    parts.append(_evidence(case))
    gaps = "".join(f"<li>{esc(g)}</li>" for g in case["gaps"]) or "<li>Nothing known to be missing.</li>"
    parts.append(
        f'<section id="gaps"><h2>What this case does not show</h2><ul class="gaps">{gaps}</ul></section>'
    )
    parts.append(_glossary())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>Case file: {esc(crew['name'])}</title><style>{CSS}</style></head><body><main>"
        + "".join(parts)
        + f"</main><script>{JS}</script></body></html>\n"
    )


def _preview(case: Case, fp: str | None) -> str:
    if not fp:
        return "(whole crew)"
    k = next((k for k in case["keys"] if k["fingerprint"] == fp), None)
    return str(k["preview"]) if k else fp[:12] + "…"


def _actions(act: dict[str, Any]) -> str:
    def ul(items: list[str]) -> str:
        return '<ul class="actions">' + ("".join(items) or "<li>None.</li>") + "</ul>"

    out = ['<section id="actions"><h2>What we recommend</h2>']
    out.append(
        '<h3>1. Revoke the stolen keys</h3><p class="explain">Ask each owner to revoke and replace these '
        "keys "
        "now; until then the group can keep using them.</p>"
    )
    out.append(
        ul(
            [
                f"<li><code>{esc(k['preview'])}</code> of {esc(k['victim'] or 'unknown owner')} "
                f"({esc(k['provider'])}) — {esc(k['why'])}</li>"
                for k in act["revoke_keys"]
            ]
        )
    )
    out.append("<h3>2. Block the group's network addresses and hosts</h3>")
    out.append(
        ul(
            [f"<li><code>{esc(i['ip'])}</code> — {esc(i['why'])}</li>" for i in act["block_ips"]]
            + [f"<li><code>{esc(h['host'])}</code> — {esc(h['why'])}</li>" for h in act["block_hosts"]]
        )
    )
    out.append("<h3>3. Seize or take down domains</h3>")
    out.append(
        ul(
            [
                f"<li><b>{'Seize' if d['action'] == 'seize' else 'Request takedown of'}</b> "
                f"<code>{esc(d['domain'])}</code> — {esc(d['why'])}</li>"
                for d in act["seize_domains"]
            ]
        )
    )
    out.append(
        '<h3>4. Refer accounts</h3><p class="explain">Handles and accounts to refer to the service providers '
        "and, where appropriate, to law enforcement.</p>"
    )
    out.append(
        ul(
            [
                f"<li><code>{esc(a['account'])}</code> ({esc(a['kind'])}, {esc(a['role'])}) — "
                f"{esc(a['why'])}</li>"
                for a in act["refer_accounts"]
            ]
        )
    )
    out.append(
        '<h3>5. Watch for the group\'s software</h3><p class="explain">Signals for detection together with '
        "the "
        "addresses above; a common library name alone proves nothing.</p>"
    )
    out.append(
        ul(
            [
                f"<li><code>{esc(u['user_agent'])}</code> — {esc(u['why'])}</li>"
                for u in act["watch_user_agents"]
            ]
        )
    )
    out.append("</section>")
    return "".join(out)


def _seen(m: dict[str, Any]) -> str:
    """A member's first and last time, as one short range."""
    lo, hi = m.get("first_seen"), m.get("last_seen")
    if not isinstance(lo, str):
        return ""
    return lo.replace("T", " ").rstrip("Z") + (
        "" if hi in (None, lo) else " to " + hi.replace("T", " ").rstrip("Z")
    )


def _shared_and_pool(infra: dict[str, Any]) -> str:
    """What the chart leaves out: exits the crew shared with other crews, and its proxy pool."""
    out = []
    pool = infra.get("proxy_pool")
    if pool:
        top = ", ".join(f"{esc(t['address'])} ({t['events']:,})" for t in pool["top"])
        out.append(
            f"<p>The crew also sent {pool['events']:,} requests through a proxy pool of "
            f"{pool['addresses']:,} exit addresses in {pool['networks']:,} networks (busiest: {top}). "
            "These are proxy-service exits, not the crew's own hosts: a takedown request goes to the "
            "proxy service. Every exit is listed in the workspace table crew_edges.</p>"
        )
    shared = infra.get("shared") or []
    if shared:
        items = "".join(
            f"<li>{esc(x['address'])}: shared with {esc(x['other_crew'])} "
            f"({x['events']:,} of that crew's requests)</li>"
            for x in shared
        )
        out.append(
            "<p>Addresses this crew shared with other crews (a VPN exit, Tor or a NAT several crews "
            f"send through); they are not its own hosts and did not merge the crews:</p><ul>{items}</ul>"
        )
    return "".join(out)


def _cited(e: dict[str, Any]) -> str | None:
    """Chain of custody: where the record is (file, position) and the SHA-256 of the file as ingested;
    `ringbreaker show EVENT_ID` reads it back from the evidence store and checks that hash."""
    where = e.get("source_file")
    if not where:
        return None
    at = f" @{e['source_offset']}" if e.get("source_offset") is not None else ""
    sha = e.get("source_sha256")
    return f"{where}{at}" + (f" sha256 {sha}" if sha else "")


def _evidence(case: Case) -> str:
    ev = case["evidence"]
    out = [
        '<section id="evidence"><h2>Evidence</h2><p class="explain">Every statement above rests on records '
        "listed here. Each record has an identifier (event id, alert id, finding id) that points to the "
        "original "
        "log entry in the workspace, so it can be produced and checked. Each request also names its "
        "source file, its position there and the file's SHA-256 as ingested: <code>ringbreaker show "
        "EVENT_ID</code> reads the original record back from the evidence store and verifies that hash."
        "</p>"
    ]
    out.append("<h3>Why each member is in the crew</h3>")
    members = [m | {"role": r} for r in case["members"] for m in case["members"][r]]
    out.append(
        _table(
            "members-table",
            [
                ("Role", False),
                ("Kind", False),
                ("Identifier", False),
                ("Part played", False),
                ("Seen (UTC)", False),
                ("Confidence", True),
                ("Reason", False),
                ("Evidence", False),
            ],
            [
                [
                    ROLE_NAMES.get(m["role"], m["role"]).split(":")[0],
                    m["kind"],
                    m["entity"],
                    m.get("infra_role") or "",
                    _seen(m),
                    float(m["confidence"]),
                    m["evidence"],
                    _ids(m["evidence_ids"]),
                ]
                for m in members
            ],
        )
    )
    out.append("<h3>Detections</h3>")
    out.append(
        _table(
            "alerts-table",
            [
                ("Alert id", False),
                ("Severity", False),
                ("What was detected", False),
                ("First (UTC)", False),
                ("Last (UTC)", False),
                ("Hits", True),
            ],
            [
                [
                    a["id"],
                    a["severity"],
                    f"{a['title']}: {a['summary']}",
                    a["first_time"],
                    a["last_time"],
                    a["count"],
                ]
                for a in ev["alerts"]
            ],
        )
    )
    out.append("<h3>Where the keys were published</h3>")
    out.append(
        _table(
            "findings-table",
            [
                ("Finding id", False),
                ("Key (shortened)", False),
                ("Repository", False),
                ("File", False),
                ("Line", True),
                ("Commit", False),
                ("Published (UTC)", False),
            ],
            [
                [
                    f["id"],
                    f["preview"],
                    f["repo"],
                    f["path"],
                    f["line"],
                    (f["commit_id"] or "")[:12] or None,
                    f["leak_time"],
                ]
                for f in ev["findings"]
            ],
        )
    )
    shown = ev["events_listed"]
    out.append(
        f'<h3>Requests made through the stolen keys</h3><p class="note">{ev["events_total"]:,} records in '
        f"total; the first {shown:,} are listed. case.json lists the same ones.</p>"
    )
    out.append(
        _table(
            "events-table",
            [
                ("Event id", False),
                ("Time (UTC)", False),
                ("Service", False),
                ("Action", False),
                ("Result", False),
                ("From address", False),
                ("Software", False),
                ("Model", False),
                ("Tokens in", True),
                ("Tokens out", True),
                ("Prompt verdict", False),
                ("Source record (file SHA-256 @ position)", False),
            ],
            [
                [
                    e["id"],
                    e["time"],
                    e["provider"],
                    e["operation"],
                    e["status"],
                    e["src_ip"],
                    e["user_agent"],
                    e["model"],
                    e["tokens_in"],
                    e["tokens_out"],
                    (e["verdict"] or "") + (" " + ", ".join(e["labels"]) if e["labels"] else "") or None,
                    _cited(e),
                ]
                for e in ev["events"]
            ],
        )
    )
    out.append("</section>")
    return "".join(out)


def _glossary() -> str:
    terms = [
        ("API key", "a secret string that lets a program use a paid online service on the owner's account."),
        ("Fingerprint", "a SHA-256 digest of a key: identifies it exactly without revealing it."),
        (
            "Proxy / reverse proxy",
            "a server that passes requests on; the group's proxies hid which stolen key "
            "served which customer.",
        ),
        ("Network address (IP)", "the numeric address a request came from."),
        ("Software / user agent", "the name a program announces when it makes a request."),
        ("Token", "the unit AI services bill by, roughly three-quarters of a word."),
        ("Event id", "the identifier of one log record in the workspace."),
    ]
    items = "".join(f"<dt><b>{esc(t)}</b></dt><dd>{esc(d)}</dd>" for t, d in terms)
    return f'<section id="glossary"><h2>Glossary</h2><dl>{items}</dl></section>'
