"""Read one crew's case out of the workspace: members, keys, timeline, evidence and infrastructure.

Only the workspace is read (the tables of scan, ingest, classify, detect and attribute), never the
logs again, so a case can be rebuilt from the DuckDB file alone. Every table may be missing or
empty (a workspace from before `attribute`, a crew with no timeline yet): the reader never fails on
that, it records a plain-language *gap* instead, and the case says what it could not show.

Which events belong to a crew: those that touch the crew's infrastructure (a source IP member, the
/24 of one where the log masks the last octet as Azure does, a user agent or tool, an end user, an
account), plus every event named as evidence by a member, a timeline row or an alert on the crew's
keys. A crew with no infrastructure members falls back to the events on its keys from the first
abuse on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringbreaker.model import Role
from ringbreaker.workspace.evidence import has_citations

if TYPE_CHECKING:
    import duckdb

ROLES = tuple(Role)  # creator, provider, user: the org chart's tiers, top down
INFRA_KINDS = ("ip", "proxy_host", "tool", "user_agent")
EVENT_LIMIT = 500  # evidence events listed in full; the count is always exact

_ISO = "'%Y-%m-%dT%H:%M:%SZ'"


def iso(col: str) -> str:
    """SQL for a TIMESTAMPTZ column as ISO 8601 UTC text (no pytz needed to fetch it)."""
    return f"strftime(timezone('UTC', {col}), {_ISO})"


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables the workspace has (an old workspace may lack the later stages')."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts keyed by column name."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def crew_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every crew id in the workspace, oldest activity first."""
    if "crews" not in tables(con):
        return []
    return [r[0] for r in con.execute("SELECT id FROM crews ORDER BY first_time NULLS LAST, id").fetchall()]


def load_crew(con: duckdb.DuckDBPyConnection, crew_id: str) -> dict[str, Any]:
    """Everything the case needs about one crew, as plain JSON-ready values (see case.schema.json)."""
    have = tables(con)
    gaps: list[str] = []
    crew_rows = rows(
        con,
        f"SELECT id, name, summary, {iso('first_time')} AS first_time, {iso('last_time')} AS last_time, "
        "confidence, ties FROM crews WHERE id = ?",
        [crew_id],
    )
    crew = crew_rows[0]

    members = rows(
        con,
        "SELECT kind, entity, role, confidence, evidence, evidence_ids, infra_role, "
        f"{iso('first_seen')} AS first_seen, {iso('last_seen')} AS last_seen FROM crew_members "
        "WHERE crew_id = ? ORDER BY role, confidence DESC, kind, entity",
        [crew_id],
    )
    if not members:
        gaps.append("No members were attributed to this crew: the org chart is empty.")

    keys = rows(
        con,
        f"SELECT key_fingerprint AS fingerprint, preview, provider, victim, {iso('leak_time')} AS leak_time, "
        f"leak_location, {iso('first_abuse')} AS first_abuse, minutes_to_abuse, events, tokens_in, "
        "tokens_out "
        "FROM crew_keys WHERE crew_id = ? ORDER BY leak_time NULLS LAST, first_abuse NULLS LAST, fingerprint",
        [crew_id],
    )
    if not keys:
        gaps.append("No stolen keys are linked to this crew: nothing to revoke and no cost to estimate.")
    if "findings" in have:  # fill previews and leak places the attribute stage left empty
        for k in keys:
            if k["preview"] and k["leak_location"]:
                continue
            f = rows(
                con,
                f"SELECT preview, location, {iso('leak_time')} AS leak_time "
                "FROM findings WHERE fingerprint = ? ORDER BY leak_time NULLS LAST LIMIT 1",
                [k["fingerprint"]],
            )
            if f:
                k["preview"] = k["preview"] or f[0]["preview"]
                k["leak_location"] = k["leak_location"] or f[0]["location"]
                k["leak_time"] = k["leak_time"] or f[0]["leak_time"]
    for k in keys:
        if not k["preview"]:
            k["preview"] = k["fingerprint"][:8] + "…(fingerprint)"
        if k["leak_time"] is None:
            gaps.append(
                f"Key {k['preview']}: no public leak was found for it (it may have leaked elsewhere)."
            )

    timeline = rows(
        con,
        f"SELECT {iso('time')} AS time, stage, key_fingerprint, description, evidence_ids FROM timeline "
        "WHERE crew_id = ? ORDER BY time, stage",
        [crew_id],
    )
    if not timeline:
        gaps.append("No timeline was recorded for this crew: the sequence of events cannot be shown.")

    alerts: list[dict[str, Any]] = []
    fps = [k["fingerprint"] for k in keys]
    if "alerts" in have and fps:
        alerts = rows(
            con,
            f"SELECT id, rule, severity, title, summary, {iso('first_time')} AS first_time, "
            f"{iso('last_time')} AS last_time, count, key_fingerprints, src_ips, proxy_hosts, event_ids "
            "FROM alerts WHERE len(list_intersect(key_fingerprints, ?)) > 0 "
            "ORDER BY first_time, rule, id",
            [fps],
        )
    if not alerts:
        gaps.append("No detection alerts concern this crew's keys (was `ringbreaker detect` run?).")

    shared, pool = _edges(con, crew_id, have)
    events, events_total = _events(con, crew_id, members + pool["members"], keys, timeline, alerts, have)
    if not events_total:
        gaps.append("No telemetry events were matched to this crew: cost and infrastructure links are empty.")

    findings: list[dict[str, Any]] = []
    if "findings" in have and fps:
        findings = rows(
            con,
            f"SELECT id, fingerprint, rule, provider, preview, repo, path, line, commit_id, author, "
            f"{iso('leak_time')} AS leak_time FROM findings WHERE list_contains(?, fingerprint) "
            "ORDER BY leak_time NULLS LAST, id",
            [fps],
        )
    return {
        "crew": crew,
        "members": members,
        "keys": keys,
        "timeline": timeline,
        "alerts": alerts,
        "events": events,
        "events_total": events_total,
        "shared": shared,
        "proxy_pool": pool["summary"],
        "findings": findings,
        "gaps": gaps,
    }


def _edges(
    con: duckdb.DuckDBPyConnection, crew_id: str, have: set[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """From ``crew_edges``: the addresses the crew shared with other crews, and its proxy pool (a
    summary, and its exits as address members so the case counts their events)."""
    if "crew_edges" not in have:
        return [], {"summary": None, "members": []}
    shared = rows(
        con,
        "SELECT substr(source, 4) AS address, substr(target, 6) AS other_crew, weight::BIGINT AS events, "
        f"{iso('first_time')} AS first_time, {iso('last_time')} AS last_time FROM crew_edges "
        "WHERE crew_id = ? AND kind = 'shared-with' ORDER BY address, other_crew",
        [crew_id],
    )
    exits = con.execute(
        "SELECT substr(target, 4), weight::BIGINT FROM crew_edges "
        "WHERE crew_id = ? AND kind = 'pool-address' ORDER BY weight DESC, target",
        [crew_id],
    ).fetchall()
    if not exits:
        return shared, {"summary": None, "members": []}
    summary = {
        "addresses": len(exits),
        "networks": len({a.rsplit(".", 1)[0] for a, _ in exits}),
        "events": sum(n for _, n in exits),
        "top": [{"address": a, "events": n} for a, n in exits[:5]],
    }
    return shared, {"summary": summary, "members": [{"kind": "ip", "entity": a} for a, _ in exits]}


def _addresses(members: list[dict[str, Any]]) -> list[str]:
    """The crew's member addresses and their masked form (Azure logs hide the last octet)."""
    ips = [m["entity"] for m in members if m["kind"] == "ip"]
    return ips + sorted({ip.rsplit(".", 1)[0] + ".***" for ip in ips if ip.count(".") == 3})


def _crew_filter(members: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """SQL predicate (and its parameters) for the events that touch the crew's infrastructure."""
    by_kind: dict[str, list[str]] = {}
    for m in members:
        by_kind.setdefault(m["kind"], []).append(m["entity"])
    agents = by_kind.get("user_agent", []) + by_kind.get("tool", [])
    parts, params = [], []
    for col, values in (
        ("src_ip", _addresses(members)),
        ("user_agent", agents),
        ("end_user", by_kind.get("end_user", [])),
        ("actor", by_kind.get("account", [])),
    ):
        if values:
            parts.append(f"list_contains(?, e.{col})")
            params.append(values)
    return " OR ".join(parts), params


def _events(
    con: duckdb.DuckDBPyConnection,
    crew_id: str,
    members: list[dict[str, Any]],
    keys: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    have: set[str],
) -> tuple[list[dict[str, Any]], int]:
    """Materialise the crew's events in a temporary table; return the first EVENT_LIMIT and the count."""
    con.execute("CREATE OR REPLACE TEMP TABLE case_events (id VARCHAR)")
    if "events" not in have:
        return [], 0
    named: set[str] = set()
    for group in (members, timeline, alerts):
        for r in group:
            named.update(r.get("evidence_ids") or r.get("event_ids") or [])
    pred, params = _crew_filter(members)
    if not pred:  # no infrastructure known: the keys' events from their first abuse on
        starts = [(k["fingerprint"], k["first_abuse"]) for k in keys if k["first_abuse"]]
        if starts:
            pred = " OR ".join("(e.key_fingerprint = ? AND e.time >= CAST(? AS TIMESTAMPTZ))" for _ in starts)
            params = [v for fp, t in starts for v in (fp, t)]
    where = " OR ".join(x for x in (f"({pred})" if pred else "", "list_contains(?, e.id)") if x)
    con.execute(
        f"INSERT INTO case_events SELECT e.id FROM events e WHERE {where}",
        [*params, sorted(named)],
    )
    total_row = con.execute("SELECT count(*) FROM case_events").fetchone()
    total = int(total_row[0]) if total_row else 0
    verdict_cols = (
        "v.severity AS verdict, v.labels AS labels"
        if "verdicts" in have
        else ("NULL AS verdict, NULL AS labels")
    )
    verdict_join = "LEFT JOIN verdicts v ON v.event_id = e.id" if "verdicts" in have else ""
    sha = "e.source_sha256" if has_citations(con) else "NULL"
    listed = rows(
        con,
        f"SELECT e.id, {iso('e.time')} AS time, e.provider, e.operation, e.status, e.src_ip, e.user_agent, "
        f"e.model, e.tokens_in, e.tokens_out, e.key_fingerprint, e.account, e.end_user, {verdict_cols}, "
        # the citation (chain of custody): the source file, its SHA-256 and the record's position
        f"e.source_file, e.source_offset, {sha} AS source_sha256 "
        f"FROM events e JOIN case_events c USING (id) {verdict_join} ORDER BY e.time, e.id LIMIT "
        f"{EVENT_LIMIT}",
    )
    for r in listed:
        r["labels"] = list(r["labels"] or [])
    return listed, total


def usage_by_model(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Requests and metered tokens per model over the crew's events (case_events must be loaded)."""
    return rows(
        con,
        "SELECT e.model, count(*) AS requests, count(e.tokens_in) + 0 AS metered, "
        "coalesce(sum(e.tokens_in), 0)::BIGINT AS tokens_in, coalesce(sum(e.tokens_out), 0)::BIGINT AS "
        "tokens_out "
        "FROM events e JOIN case_events c USING (id) WHERE e.model IS NOT NULL AND e.status <> 'failure' "
        "GROUP BY e.model ORDER BY e.model",
    )


def workspace_averages(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[float, float]]:
    """Average tokens in/out per metered request, per model, over the whole workspace.

    Used to estimate what un-metered requests (Bedrock calls after invocation logging was deleted,
    Azure calls without usage records) probably consumed.
    """
    out = {}
    for r in rows(
        con,
        "SELECT model, avg(tokens_in) AS ti, avg(tokens_out) AS tout FROM events "
        "WHERE model IS NOT NULL AND tokens_in IS NOT NULL GROUP BY model",
    ):
        out[r["model"]] = (float(r["ti"] or 0), float(r["tout"] or 0))
    return out


def links(
    con: duckdb.DuckDBPyConnection, members: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Key ↔ source IP ↔ user agent triples with counts, over the crew's events.

    When the crew has member addresses, only requests from them (or from their masked /24) are
    drawn: the victims' own traffic on a stolen key is evidence of whose key it is, not part of
    the crew's infrastructure, and a reader would take every address on the chart for the crew's.
    """
    addresses = _addresses(members or [])
    where, params = ("WHERE list_contains(?, e.src_ip)", [addresses]) if addresses else ("", [])
    return rows(
        con,
        "SELECT e.key_fingerprint, e.account, e.src_ip, e.user_agent, e.end_user, count(*) AS events "
        f"FROM events e JOIN case_events c USING (id) {where} GROUP BY ALL ORDER BY events DESC",
        params,
    )
