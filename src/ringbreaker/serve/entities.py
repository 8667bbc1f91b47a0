"""Crews, events and search, read from the workspace tables (aggregates computed in SQL); a key's
page is keys.py (``key`` is re-exported here).

Crews are shaped as ``attribute --format json`` prints them (``crews[]``: id, name, first_time,
last_time, summary, members, keys, timeline, times as ISO text), read from the same tables it reads
back; tests compare the field names with the CLI's output.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import RingbreakerError
from ringbreaker.ingest import Blobs, read_record
from ringbreaker.serve import summaries
from ringbreaker.serve.alerts import tables
from ringbreaker.serve.keys import key
from ringbreaker.serve.paging import Page, page_rows
from ringbreaker.serve.summaries import DAY, iso, rows

if TYPE_CHECKING:
    import duckdb

__all__ = ["crews", "crews_page", "event", "events", "key", "keys_of", "search"]

EVENT_LIMIT = 50  # evidence events shown on an alert's page (with raw records); counts are always exact
_HEX = re.compile(r"^[0-9a-f]{6,64}$")
_IP = re.compile(r"^[0-9a-fA-F:.]+(\.\*\*\*)?$")


# --------------------------------------------------------------------------- crews


def crews(con: duckdb.DuckDBPyConnection, crew_id: str | None = None) -> list[dict[str, Any]]:
    """Every crew (or one), as ``attribute --format json`` shapes ``crews[]`` (attribute's own reader)."""
    from ringbreaker.attribute import read_crews

    return read_crews(con, crew_id)


def crews_page(con: duckdb.DuckDBPyConnection, page: Page) -> tuple[list[dict[str, Any]], int]:
    """One page of crews (in ``read_crews``' order, chosen in SQL) and how many there are."""
    from ringbreaker.attribute import CREW_ORDER, read_crews

    if "crews" not in tables(con):
        return [], 0
    ids, total = page_rows(con, "SELECT id, first_time FROM crews", [], CREW_ORDER, page)
    return (read_crews(con, ids=[r["id"] for r in ids]) if ids else []), total


def crew_events(con: duckdb.DuckDBPyConnection, crew: dict[str, Any]) -> dict[str, Any]:
    """How much the crew's infrastructure sent, per day and per model (events from its IP members)."""
    ips = [m["entity"] for m in crew["members"] if m["kind"] == "ip"]
    have = tables(con)
    if not ips or "events" not in have:
        return {"per_day": [], "models": []}
    if summaries.ready(have):
        return summaries.crew_activity(con, ips)
    return {
        "per_day": con.execute(
            f"SELECT {DAY} AS d, count(*) FROM events WHERE list_contains(?, src_ip) GROUP BY d ORDER BY d",
            [ips],
        ).fetchall(),
        "models": rows(
            con,
            "SELECT model, count(*) AS events, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out "
            "FROM events WHERE list_contains(?, src_ip) AND model IS NOT NULL GROUP BY model "
            "ORDER BY events DESC, model LIMIT 20",
            [ips],
        ),
    }


# --------------------------------------------------------------------------- events


def _record(con: duckdb.DuckDBPyConnection, ev: dict[str, Any], cache: Blobs | None = None) -> None:
    """An event stored by reference (``raw`` NULL) gets its record from the evidence store, verified
    (``record_verified``); a missing or changed evidence file is said (``record_error``), not hidden."""
    ev["record_verified"], ev["record_error"] = False, None
    if ev.get("raw") is not None:
        return
    try:
        rec = read_record(con, str(ev["id"]), cache)
    except RingbreakerError as e:
        ev["record_error"] = str(e)
        return
    ev["raw"], ev["record_verified"] = rec.text, rec.verified


def event(con: duckdb.DuckDBPyConnection, event_id: str) -> dict[str, Any] | None:
    if "events" not in tables(con):
        return None
    found = rows(con, f"SELECT * EXCLUDE (time), {iso('time')} AS time FROM events WHERE id = ?", [event_id])
    if not found:
        return None
    ev = found[0]
    _record(con, ev)
    ev["verdict"] = None
    if "verdicts" in tables(con):
        v = rows(
            con,
            "SELECT bypass, sexual, real_person, minor, severity, labels FROM verdicts WHERE event_id = ?",
            [event_id],
        )
        ev["verdict"] = v[0] if v else None
    return ev


def events(con: duckdb.DuckDBPyConnection, ids: list[str], limit: int = EVENT_LIMIT) -> list[dict[str, Any]]:
    """The first ``limit`` of these events (an alert's evidence, in the alert's order), oldest first.
    One lookup per id: the snapshot's index on events.id answers each without a scan."""
    out: list[dict[str, Any]] = []
    cache: Blobs = {}
    for event_id in ids[:limit]:
        got = rows(
            con,
            f"SELECT id, {iso('time')} AS time, provider, operation, status, actor, src_ip, user_agent, "
            "model, key_fingerprint, prompt, key_id, raw FROM events WHERE id = ?",
            [event_id],
        )
        for ev in got:
            _record(con, ev, cache)
        out += got
    return sorted(out, key=lambda e: (e["time"], e["id"]))


# --------------------------------------------------------------------------- search

SEARCH_LIMIT = 25  # results per group and page by default
GROUPS = ("keys", "alerts", "ips", "principals", "user_agents", "end_users", "repositories", "crews")


def _value_group(have: set[str], column: str, alias: str, match: str) -> str:
    """SQL of (value, events, keys) for one events column whose value matches ``match`` (one
    parameter): the snapshot's summary when it has one, else a scan of events."""
    if summaries.ready(have):
        return (
            f"SELECT value AS {alias}, events, keys FROM serve_values WHERE col = '{column}' "
            f"AND {match.format('value')}"
        )
    return (
        f"SELECT {column} AS {alias}, count(*) AS events, count(DISTINCT key_fingerprint) AS keys "
        f"FROM events WHERE {match.format(column)} GROUP BY {column}"
    )


def search(
    con: duckdb.DuckDBPyConnection, q: str, page: Page | None = None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """What ``q`` names: key fingerprints (prefix), alerts (id prefix), IPs (prefix), principals,
    user agents, end users, repositories and crews (substring), an event (exact id). Each group is
    paged in SQL by ``page`` (the same page of every group) and counted; returns (groups, totals)."""
    page = page or Page(1, SEARCH_LIMIT)
    have = tables(con)
    q = q.strip()
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in GROUPS}
    totals = {k: 0 for k in GROUPS}
    if not q:
        return out, totals
    like = f"%{q}%"
    low = q.lower()
    queries: dict[str, tuple[str, list[Any], str]] = {}  # group -> (sql, params, total order)
    if _HEX.match(low):
        parts = []
        if "findings" in have:
            parts.append(
                "SELECT fingerprint AS fp, 'leak' AS seen FROM findings WHERE starts_with(fingerprint, ?)"
            )
        if "events" in have and summaries.ready(have):
            parts.append(
                "SELECT value, 'use' FROM serve_values "
                "WHERE col = 'key_fingerprint' AND starts_with(value, ?)"
            )
        elif "events" in have:
            parts.append("SELECT key_fingerprint, 'use' FROM events WHERE starts_with(key_fingerprint, ?)")
        if parts:
            queries["keys"] = (
                "SELECT fp AS fingerprint, list(DISTINCT seen ORDER BY seen) AS seen "
                f"FROM ({' UNION ALL '.join(parts)}) GROUP BY fp",
                [low] * len(parts),
                "fingerprint",
            )
    if "events" in have:  # an event id (evidence ids are alert, event or finding ids)
        out["events"] = rows(
            con, f"SELECT id, {iso('time')} AS time, provider, operation FROM events WHERE id = ?", [q]
        )
        totals["events"] = len(out["events"])
    if "alerts" in have:
        queries["alerts"] = (
            "SELECT id, rule, severity, title FROM alerts WHERE starts_with(id, ?)",
            [low],
            "id",
        )
    if "events" in have:
        if _IP.match(q):
            queries["ips"] = (
                _value_group(have, "src_ip", "ip", "starts_with({}, ?)"),
                [q],
                "events DESC, ip",
            )
        for name, col in (("principals", "actor"), ("user_agents", "user_agent"), ("end_users", "end_user")):
            queries[name] = (_value_group(have, col, "value", "{} ILIKE ?"), [like], "events DESC, value")
    if "findings" in have:
        queries["repositories"] = (
            "SELECT repo AS value, count(DISTINCT fingerprint) AS keys FROM findings WHERE repo ILIKE ? "
            "GROUP BY repo",
            [like],
            "keys DESC, value",
        )
    if "crews" in have:
        queries["crews"] = ("SELECT id, name FROM crews WHERE id ILIKE ? OR name ILIKE ?", [like, like], "id")
    for group, (sql, params, order) in queries.items():
        out[group], totals[group] = page_rows(con, sql, params, order, page)
    return out, totals


PIVOTS = ("src_ip", "actor", "user_agent", "end_user")


def keys_of(
    con: duckdb.DuckDBPyConnection, column: str, value: str, page: Page | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The keys an IP, principal, user agent or end user touched (a pivot from search), most used
    first, one page of them, and how many there are."""
    page = page or Page(1, 100)
    have = tables(con)
    if column not in PIVOTS or "events" not in have:
        return [], 0
    if summaries.ready(have):
        sql = (
            "SELECT key_fingerprint, events, first, last FROM serve_pivot WHERE col = ? AND value = ?",
            [column, value],
        )
    else:
        sql = (
            f"SELECT key_fingerprint, count(*) AS events, {iso('min(time)')} AS first, "
            f"{iso('max(time)')} AS last FROM events WHERE {column} = ? AND key_fingerprint IS NOT NULL "
            "GROUP BY key_fingerprint",
            [value],
        )
    return page_rows(con, sql[0], sql[1], "events DESC, key_fingerprint", page)
