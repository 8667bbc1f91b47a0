"""From alerts to crews: the abuse subgraph, its communities, and who plays which role.

Why seeded by alerts: legitimate traffic dwarfs abuse and shares hubs with it (cloud ASNs, SDK
user agents). Starting only from the source addresses that high/critical alerts name, and from the
events those addresses sent, keeps customers out of crews by construction; the graph is then small
(keys x proxy IPs), so Leiden runs in milliseconds even when the workspace holds millions of events.

Steps, each leaving evidence:
1. seeds: src_ips named by alerts at or above ``min_severity``; a masked Azure caller (a.b.c.***)
   stands for its /24;
2. abuse events: every event from a seed address, plus masked Azure calls from a seed /24 (entity
   resolution: same /24 as a proxy address; said in the member's evidence); Azure calls name only
   the resource, which is joined to the leaked key whose finding names that resource;
3. graph: proxy address -- stolen key (weight: log of the request count), address -- its /24,
   address -- control-plane principal; Leiden (CPM) finds the crews; a community must use keys of
   two victims (a reseller pools keys) or run a published tool to count as a crew;
4. members: tool fingerprints (user agents) and end users join the crew whose addresses sent most
   of their requests; public repositories whose code contains a crew's tool fingerprint give its
   creators (authors of code) and providers (authors of deployment configs, with their hosts);
5. keys (with their victims, who are never members), and the leak-to-abuse timeline.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.attribute.code import Repo, index
from ringbreaker.attribute.stages import STAGE_SQL
from ringbreaker.errors import UsageError

SEVERITIES = ("info", "low", "medium", "high", "critical")
MAX_EVIDENCE = 50
_MASKED = re.compile(r"^(\d+\.\d+\.\d+)\.(?:\*+|x+|0)$", re.IGNORECASE)


@dataclass(frozen=True)
class AttributeConfig:
    """Knobs of ``attribute``; the defaults are what the benchmarks measure."""

    code: tuple[Path, ...] = ()
    min_severity: str = "high"
    resolution: float = 0.02  # CPM: a community's internal density must exceed this
    min_victims: int = 2  # ... and hold keys of this many victims (pooling), or a published tool
    seed: int = 1


@dataclass
class Member:
    kind: str
    entity: str
    role: str
    confidence: float
    evidence: str
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class CrewResult:
    id: str
    name: str
    members: list[Member]
    keys: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    first_time: str | None
    last_time: str | None
    summary: str


@dataclass
class Result:
    crews: list[CrewResult]
    seeds: int
    abuse_events: int
    nodes: int
    edges: int
    notes: list[str] = field(default_factory=list)


def _net(ip: str) -> str | None:
    """The /24 an IPv4 address (or a masked a.b.c.*** caller) belongs to."""
    m = _MASKED.match(ip)
    if m:
        return f"{m.group(1)}.0/24"
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(parts[:3]) + ".0/24"
    return None


def _masked(ip: str) -> bool:
    return bool(_MASKED.match(ip)) and not ip.endswith(".0")


def _one(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row of ``query`` (fetched whole: DuckDB 2 refuses new work while a result is open)."""
    rows = con.execute(query, params or []).fetchall()
    return tuple(rows[0]) if rows else ()


def _hid(*parts: str, n: int = 12) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


def _seeds(
    con: duckdb.DuckDBPyConnection, min_severity: str
) -> tuple[set[str], set[str], dict[str, list[str]]]:
    """Seed addresses, seed /24s and, per address, the alerts that name it."""
    levels = list(SEVERITIES[SEVERITIES.index(min_severity) :])
    rows = con.execute(
        "SELECT ip, list(id ORDER BY id) FROM (SELECT id, unnest(src_ips) AS ip FROM alerts "
        "WHERE severity IN (SELECT unnest(?))) WHERE ip IS NOT NULL AND ip <> '' GROUP BY ip",
        [levels],
    ).fetchall()
    ips, nets, by_ip = set(), set(), {}
    for ip, alert_ids in rows:
        by_ip[ip] = list(alert_ids)
        if _masked(ip):
            net = _net(ip)
            if net:
                nets.add(net)
        else:
            ips.add(ip)
            net = _net(ip)
            if net:
                nets.add(net)
    return ips, nets, by_ip


def _abuse_table(con: duckdb.DuckDBPyConnection, ips: set[str], nets: set[str]) -> int:
    """TEMP table ``abuse``: the events the seeds sent, with the node they hang on and their key."""
    con.execute("CREATE OR REPLACE TEMP TABLE seed_ip AS SELECT unnest(?::VARCHAR[]) AS ip", [sorted(ips)])
    con.execute("CREATE OR REPLACE TEMP TABLE seed_net AS SELECT unnest(?::VARCHAR[]) AS net", [sorted(nets)])
    # Leaked keys by the resource their leak names (Azure logs name the resource, not the key).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE key_by_resource AS SELECT resource, min(fingerprint) AS fingerprint "
        "FROM findings WHERE resource IS NOT NULL GROUP BY resource"
    )
    masked = r"'^(\d+\.\d+\.\d+)\.\*+$'"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE abuse AS
        WITH e AS (
            SELECT * FROM events
            WHERE src_ip IN (SELECT ip FROM seed_ip)
               OR (regexp_matches(src_ip, {masked})
                   AND regexp_replace(src_ip, {masked}, '\\1.0/24') IN (SELECT net FROM seed_net))
        )
        SELECT e.id, e.time, e.provider, e.service, e.operation, e.status, e.error_code, e.actor,
               e.actor_type, e.account, e.resource, e.src_ip, e.user_agent, e.model, e.api_version,
               e.tokens_in, e.tokens_out, e.end_user, e.source_format,
               CASE WHEN regexp_matches(e.src_ip, {masked})
                    THEN regexp_replace(e.src_ip, {masked}, '\\1.0/24') ELSE e.src_ip END AS node,
               coalesce(e.key_fingerprint, k.fingerprint) AS key_fp,
               coalesce(e.account, regexp_extract(e.resource, '(?i)/subscriptions/([^/]+)', 1)) AS victim,
               {STAGE_SQL} AS stage
        FROM e LEFT JOIN key_by_resource k
          ON e.key_fingerprint IS NULL
         AND k.resource = lower(regexp_extract(e.resource, '(?i)/accounts/([^/]+)', 1))
        """
    )
    return int(_one(con, "SELECT count(*) FROM abuse")[0])


def _leiden(nodes: list[str], edges: dict[tuple[str, str], float], resolution: float, seed: int) -> list[int]:
    import igraph as ig
    import leidenalg

    index_of = {n: i for i, n in enumerate(nodes)}
    g = ig.Graph(n=len(nodes), edges=[(index_of[a], index_of[b]) for a, b in edges], directed=False)
    g.es["weight"] = list(edges.values())
    part = leidenalg.find_partition(
        g,
        leidenalg.CPMVertexPartition,
        weights="weight",
        resolution_parameter=resolution,
        seed=seed,
        n_iterations=-1,
    )
    return list(part.membership)


def _ua_in_code(ua: str, text: str) -> bool:
    return len(ua) >= 6 and (f'"{ua}"' in text or f"'{ua}'" in text or f"`{ua}`" in text)


def attribute(con: duckdb.DuckDBPyConnection, cfg: AttributeConfig = AttributeConfig()) -> Result:
    """Find crews in the workspace and write crews, crew_members, crew_keys and timeline.

    The tables are replaced as a whole inside one transaction: a failed run leaves the previous
    attribution intact.
    """
    if cfg.min_severity not in SEVERITIES:
        raise UsageError(f"unknown severity {cfg.min_severity!r}; one of {', '.join(SEVERITIES)}")
    repos = index(list(cfg.code)) if cfg.code else []
    ips, nets, alerts_by_ip = _seeds(con, cfg.min_severity)
    n_abuse = _abuse_table(con, ips, nets) if (ips or nets) else 0
    result = Result([], len(ips) + len(nets), n_abuse, 0, 0)
    if not n_abuse:
        result.notes.append(
            f"no events from addresses named by {cfg.min_severity}+ alerts: run detect first"
            if not alerts_by_ip
            else "alerts name addresses, but no events came from them"
        )
        _store(con, [])
        return result

    # -- the graph ------------------------------------------------------------------------------
    edges: dict[tuple[str, str], float] = {}
    ip_key = con.sql(
        "SELECT node, key_fp, count(*) FROM abuse WHERE key_fp IS NOT NULL GROUP BY ALL"
    ).fetchall()
    for node, key, n in ip_key:
        edges[(f"ip:{node}", f"key:{key}")] = 1.0 + math.log10(n)
    for node, actor, n in con.sql(
        "SELECT node, actor, count(*) FROM abuse "
        "WHERE source_format = 'azure-activity' AND actor IS NOT NULL "
        "GROUP BY ALL"
    ).fetchall():
        edges[(f"ip:{node}", f"principal:{actor}")] = 1.0 + math.log10(n)
    node_names = {a for a, _ in edges} | {b for _, b in edges}
    for node in [n for n in node_names if n.startswith("ip:")]:
        net = _net(node[3:])
        if net and f"ip:{net}" != node and f"ip:{net}" in node_names:
            edges[(node, f"ip:{net}")] = 2.0  # entity resolution: same /24 as a masked caller
    nodes = sorted({a for a, _ in edges} | {b for _, b in edges})
    membership = _leiden(nodes, edges, cfg.resolution, cfg.seed) if nodes else []
    result.nodes, result.edges = len(nodes), len(edges)
    community: dict[str, int] = dict(zip(nodes, membership, strict=True))

    # -- attach tools, end users and code ---------------------------------------------------------
    def majority(rows: list[tuple[str, str, int]]) -> dict[str, tuple[int, int]]:
        votes: dict[str, Counter[int]] = defaultdict(Counter)
        for value, node, n in rows:
            c = community.get(f"ip:{node}")
            if c is not None:
                votes[value][c] += n
        return {v: (cnt.most_common(1)[0][0], sum(cnt.values())) for v, cnt in votes.items()}

    ua_rows = con.sql(
        "SELECT user_agent, node, count(*) FROM abuse WHERE user_agent IS NOT NULL GROUP BY ALL"
    )
    ua_crew = majority(ua_rows.fetchall())
    # A user agent is a tool fingerprint only if customers do not send it too.
    common = {
        ua
        for (ua,) in con.execute(
            "SELECT DISTINCT user_agent FROM events WHERE user_agent IN (SELECT unnest(?::VARCHAR[])) "
            "AND src_ip NOT IN (SELECT ip FROM seed_ip) AND NOT regexp_matches(coalesce(src_ip, ''), '\\*')",
            [sorted(ua_crew)],
        ).fetchall()
    }
    eu_crew = majority(
        con.sql(
            "SELECT end_user, node, count(*) FROM abuse WHERE end_user IS NOT NULL GROUP BY ALL"
        ).fetchall()
    )

    groups: dict[int, set[str]] = defaultdict(set)
    for n, c in community.items():
        groups[c].add(n)
    repo_crew: dict[str, int] = {}
    for repo in repos:
        text = repo.added_text()
        votes = Counter(c for ua, (c, _) in ua_crew.items() if ua not in common and _ua_in_code(ua, text))
        if votes:
            repo_crew[repo.name] = votes.most_common(1)[0][0]

    def victims_of(keys: list[str]) -> int:
        return int(
            _one(
                con,
                "SELECT count(DISTINCT victim) FROM abuse WHERE key_fp IN (SELECT unnest(?::VARCHAR[]))",
                [keys],
            )[0]
        )

    crews: list[CrewResult] = []
    for c, members in sorted(groups.items()):
        keys = sorted(m[4:] for m in members if m.startswith("key:"))
        tools = [r for r in repos if repo_crew.get(r.name) == c]
        victims = victims_of(keys)
        if victims < cfg.min_victims and not tools:
            result.notes.append(
                f"community of {len(members)} node(s) using keys of {victims} victim(s) and no published "
                "tool: not a crew (a reseller pools several victims' keys)"
            )
            continue
        crews.append(_crew(con, c, members, keys, tools, ua_crew, common, eu_crew, alerts_by_ip))
    crews.sort(key=lambda x: (x.first_time or "", x.id))
    orphan = _unattributed(con, cfg.min_severity, {k["key_fingerprint"] for c in crews for k in c.keys})
    if orphan is not None:
        crews.append(orphan)
    _store(con, crews)
    result.crews = crews
    return result


def _crew(
    con: duckdb.DuckDBPyConnection,
    c: int,
    nodes: set[str],
    keys: list[str],
    tools: list[Repo],
    ua_crew: dict[str, tuple[int, int]],
    common: set[str],
    eu_crew: dict[str, tuple[int, int]],
    alerts_by_ip: dict[str, list[str]],
) -> CrewResult:
    addresses = sorted(n[3:] for n in nodes if n.startswith("ip:"))
    full_ips = [a for a in addresses if not a.endswith("/24")]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE crew_abuse AS "
        "SELECT * FROM abuse WHERE node IN (SELECT unnest(?::VARCHAR[]))",
        [addresses],
    )
    members: list[Member] = []
    ev = con.sql(
        "SELECT node, count(*), count(DISTINCT key_fp), count(DISTINCT victim), "
        "list(id ORDER BY time)[:50], list(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL) "
        "FROM crew_abuse GROUP BY node"
    ).fetchall()
    for node, n, nkeys, nvictims, ids, _uas in ev:
        if node.endswith("/24"):
            continue  # a masked /24 is evidence of a member address, not a member itself
        alert_ids = alerts_by_ip.get(node, [])
        members.append(
            Member(
                "ip",
                node,
                "provider",
                min(1.0, 0.5 + 0.1 * nkeys + 0.1 * nvictims + (0.2 if alert_ids else 0)),
                f"sent {n:,} requests with {nkeys} stolen key(s) of {nvictims} victim(s)"
                + (f"; named by {len(alert_ids)} alert(s)" if alert_ids else ""),
                (alert_ids + list(ids))[:MAX_EVIDENCE],
            )
        )
    for node in sorted(n for n in nodes if n.startswith("ip:") and n.endswith("/24")):
        merged = [a for a in full_ips if _net(a) == node[3:]]
        if merged:
            members_note = (
                f"masked Azure callers from {node[3:]} resolved to crew address(es) {', '.join(merged)}"
            )
            for m in members:
                if m.entity in merged:
                    m.evidence += f"; {members_note}"
    for principal in sorted(n[10:] for n in nodes if n.startswith("principal:")):
        rows = _one(
            con,
            "SELECT list(id ORDER BY time)[:50], list(DISTINCT operation) FROM crew_abuse WHERE actor = ? "
            "AND source_format = 'azure-activity'",
            [principal],
        )
        ids, ops = rows or ([], [])
        members.append(
            Member(
                "account",
                principal,
                "provider",
                0.8,
                f"signed in from crew addresses for control-plane changes: {', '.join(sorted(ops or []))}",
                list(ids or []),
            )
        )
    crew_uas = sorted(ua for ua, (cc, _) in ua_crew.items() if cc == c and ua not in common)
    code_text = "\n".join(r.added_text() for r in tools)
    for ua in crew_uas:
        in_code = _ua_in_code(ua, code_text)
        repo_names = [r.name for r in tools if _ua_in_code(ua, r.added_text())]
        rows = _one(
            con, "SELECT count(*), list(id ORDER BY time)[:20] FROM crew_abuse WHERE user_agent = ?", [ua]
        )
        n, ids = rows or (0, [])
        members.append(
            Member(
                "tool",
                ua,
                "creator",
                0.95 if in_code else 0.6,
                f"client fingerprint of {n:,} crew requests, never sent by customers"
                + (f"; hard-coded in {', '.join(repo_names)}" if in_code else ""),
                [*(f"repo:{r}" for r in repo_names), *(ids or [])],
            )
        )
    for repo in tools:
        first = repo.commits[0] if repo.commits else None
        members.append(
            Member(
                "tool",
                repo.name,
                "creator",
                0.9,
                f"published tooling ({repo.path}) whose code sends the crew's client fingerprint",
                [f"commit:{x.sha}" for x in repo.commits][:MAX_EVIDENCE],
            )
        )
        people: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"code": [], "deploy": [], "hosts": []})
        for commit in repo.commits:
            hosts = commit.hosts()
            p = people[commit.author]
            if hosts:
                p["deploy"].append(commit)
                p["hosts"].extend(hosts)
            else:
                p["code"].append(commit)
        for person, what in sorted(people.items()):
            if what["code"]:
                role, why, cs = (
                    "creator",
                    f"authored {len(what['code'])} code commit(s) of {repo.name}",
                    what["code"],
                )
                conf = 0.9 if first is not None and first.author == person else 0.8
            else:
                role, why, cs = "provider", f"committed the deployment config of {repo.name}", what["deploy"]
                conf = 0.8
            members.append(Member("person", person, role, conf, why, [f"commit:{x.sha}" for x in cs]))
            for host in sorted(set(what["hosts"])):
                members.append(
                    Member(
                        "proxy_host",
                        host,
                        "provider",
                        0.8,
                        f"public host of the {repo.name} deployment committed by {person}",
                        [f"commit:{x.sha}" for x in what["deploy"]],
                    )
                )
    for eu, (cc, n) in sorted(eu_crew.items()):
        if cc != c:
            continue
        rows = _one(
            con,
            "SELECT list(a.id ORDER BY a.time)[:20], "
            "count(v.event_id) FILTER (WHERE v.severity IN ('high', 'critical')) "
            "FROM crew_abuse a LEFT JOIN verdicts v ON v.event_id = a.id WHERE a.end_user = ?",
            [eu],
        )
        ids, bad = rows or ([], 0)
        members.append(
            Member(
                "end_user",
                eu,
                "user",
                0.9 if bad else 0.75,
                f"{n:,} requests through the crew's proxy"
                + (f"; {bad} prompt(s) rated high or critical" if bad else ""),
                list(ids or []),
            )
        )
    crew_keys = _keys(con, keys)
    timeline = _timeline(con, crew_keys)
    span = _one(
        con,
        "SELECT strftime(min(time), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(time), '%Y-%m-%dT%H:%M:%SZ') "
        "FROM crew_abuse",
    )
    identity = sorted(full_ips) + sorted(r.name for r in tools)
    cid = "crew-" + _hid(*(identity or keys), n=8)
    name = tools[0].name if tools else (full_ips[0] if full_ips else cid)
    roles = Counter(m.role for m in members)
    victims = {k["victim"] for k in crew_keys if k["victim"]}
    summary = (
        f"{len(crew_keys)} stolen key(s) of {len(victims)} victim(s); "
        f"{roles['creator']} creator, {roles['provider']} provider and {roles['user']} user entities"
    )
    return CrewResult(
        cid, name, members, crew_keys, timeline, span[0] if span else None, span[1] if span else None, summary
    )


def _unattributed(con: duckdb.DuckDBPyConnection, min_severity: str, placed: set[str]) -> CrewResult | None:
    """Keys that alerts call compromised but no crew's infrastructure used (an admin key whose
    audit log records no address, say): kept in a case of their own, so every stolen key is in
    exactly one case and none is silently dropped."""
    levels = list(SEVERITIES[SEVERITIES.index(min_severity) :])
    rows = con.execute(
        """
        WITH k AS (
            SELECT unnest(key_fingerprints) AS fp, first_time, id FROM alerts
            WHERE severity IN (SELECT unnest(?::VARCHAR[]))
        ), f AS (
            SELECT fingerprint, arg_min(preview, leak_time) AS preview, min(leak_time) AS leak_time,
                   arg_min(path, leak_time) AS loc, arg_min(provider, leak_time) AS provider
            FROM findings GROUP BY fingerprint
        )
        SELECT k.fp, f.provider, f.preview, strftime(f.leak_time, '%Y-%m-%dT%H:%M:%SZ'), f.loc,
               strftime(min(k.first_time), '%Y-%m-%dT%H:%M:%SZ'),
               (epoch(min(k.first_time)) - epoch(f.leak_time)) / 60.0, list(DISTINCT k.id)
        FROM k LEFT JOIN f ON f.fingerprint = k.fp
        WHERE k.fp IS NOT NULL AND k.fp NOT IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY k.fp, f.provider, f.preview, f.leak_time, f.loc ORDER BY 6
        """,
        [levels, sorted(placed)],
    ).fetchall()
    if not rows:
        return None
    keys = [
        {
            "key_fingerprint": fp,
            "victim": None,
            "provider": provider,
            "preview": preview,
            "leak_time": leak,
            "leak_location": loc,
            "first_abuse": first,
            "minutes_to_abuse": minutes,
            "events": 0,
            "tokens_in": None,
            "tokens_out": None,
            "finding_id": None,
        }
        for fp, provider, preview, leak, loc, first, minutes, _ in rows
    ]
    timeline = [
        {
            "time": first,
            "stage": "abuse",
            "key_fingerprint": fp,
            "description": f"alerts report use of key {preview or fp[:12]} that no crew's addresses explain",
            "evidence_ids": list(ids),
        }
        for fp, _, preview, _, _, first, _, ids in rows
    ]
    return CrewResult(
        "unattributed",
        "Compromised keys not tied to a crew",
        [],
        keys,
        timeline,
        rows[0][5],
        max(r[5] for r in rows),
        f"{len(keys)} key(s) alerted as compromised whose use left no address, tool or end user to follow",
    )


def _keys(con: duckdb.DuckDBPyConnection, keys: list[str]) -> list[dict[str, Any]]:
    rows = con.execute(
        """
        WITH a AS (
            SELECT key_fp, any_value(victim) AS victim, any_value(provider) AS provider,
                   min(time) AS first_abuse,
                   count(*) AS n, sum(tokens_in) AS tin, sum(tokens_out) AS tout
            FROM crew_abuse WHERE key_fp IN (SELECT unnest(?::VARCHAR[])) GROUP BY key_fp
        ), f AS (
            SELECT fingerprint, arg_min(preview, leak_time) AS preview, min(leak_time) AS leak_time,
                   arg_min(path, leak_time) AS loc, arg_min(id, leak_time) AS fid
            FROM findings GROUP BY fingerprint
        )
        SELECT a.key_fp, a.victim, a.provider, f.preview,
               strftime(f.leak_time, '%Y-%m-%dT%H:%M:%SZ'), f.loc,
               strftime(a.first_abuse, '%Y-%m-%dT%H:%M:%SZ'),
               CASE WHEN f.leak_time IS NOT NULL THEN (epoch(a.first_abuse) - epoch(f.leak_time)) / 60.0 END,
               a.n, a.tin, a.tout, f.fid
        FROM a LEFT JOIN f ON f.fingerprint = a.key_fp ORDER BY a.first_abuse
        """,
        [keys],
    ).fetchall()
    cols = (
        "key_fingerprint",
        "victim",
        "provider",
        "preview",
        "leak_time",
        "leak_location",
        "first_abuse",
        "minutes_to_abuse",
        "events",
        "tokens_in",
        "tokens_out",
        "finding_id",
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _timeline(con: duckdb.DuckDBPyConnection, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k in keys:
        if k["leak_time"]:
            out.append(
                {
                    "time": k["leak_time"],
                    "stage": "leak",
                    "key_fingerprint": k["key_fingerprint"],
                    "description": f"key {k['preview'] or k['key_fingerprint'][:12]} "
                    f"published in {k['leak_location']}",
                    "evidence_ids": [k["finding_id"]] if k["finding_id"] else [],
                }
            )
    rows = con.sql(
        """
        SELECT key_fp, stage, strftime(min(time), '%Y-%m-%dT%H:%M:%SZ'), count(*),
               list(id ORDER BY time)[:20], list(DISTINCT operation)[:5]
        FROM crew_abuse GROUP BY key_fp, stage
        """
    ).fetchall()
    words = {
        "key-check": "checked the key",
        "model-enablement": "enabled models",
        "abuse": "used the key for model calls",
        "guardrail-tampering": "weakened safety controls",
    }
    for key, stage, t, n, ids, ops in rows:
        who = f"key {key[:12]}" if key else "the victim's resource"
        out.append(
            {
                "time": t,
                "stage": stage,
                "key_fingerprint": key,
                "description": f"{words.get(stage, stage)} with {who}: "
                f"{n:,} event(s) ({', '.join(sorted(ops))})",
                "evidence_ids": list(ids),
            }
        )
    bad = con.sql(
        """
        SELECT a.key_fp, strftime(min(a.time), '%Y-%m-%dT%H:%M:%SZ'), count(*),
               list(a.id ORDER BY a.time)[:20],
               max(v.severity = 'critical')
        FROM crew_abuse a JOIN verdicts v ON v.event_id = a.id
        WHERE v.severity IN ('high', 'critical') GROUP BY a.key_fp
        """
    ).fetchall()
    for key, t, n, ids, critical in bad:
        out.append(
            {
                "time": t,
                "stage": "prohibited-content",
                "key_fingerprint": key,
                "description": f"{n:,} prompt(s) rated {'critical' if critical else 'high'} "
                "by the prompt model",
                "evidence_ids": list(ids),
            }
        )
    out.sort(key=lambda r: (r["time"] or "", r["stage"]))
    return out


def _store(con: duckdb.DuckDBPyConnection, crews: list[CrewResult]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("timeline", "crew_keys", "crew_members", "crews"):
            con.execute(f"DELETE FROM {table}")
        for crew in crews:
            con.execute(
                "INSERT INTO crews VALUES (?, ?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?)",
                [crew.id, crew.name, crew.first_time, crew.last_time, crew.summary],
            )
            seen: set[tuple[str, str]] = set()
            for m in crew.members:
                if (m.kind, m.entity) in seen:
                    continue
                seen.add((m.kind, m.entity))
                con.execute(
                    "INSERT INTO crew_members VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [crew.id, m.kind, m.entity, m.role, round(m.confidence, 3), m.evidence, m.evidence_ids],
                )
            for k in crew.keys:
                con.execute(
                    "INSERT INTO crew_keys VALUES "
                    "(?, ?, ?, ?, ?, ?::TIMESTAMPTZ, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?)",
                    [
                        crew.id,
                        k["key_fingerprint"],
                        k["victim"],
                        k["provider"],
                        k["preview"],
                        k["leak_time"],
                        k["leak_location"],
                        k["first_abuse"],
                        k["minutes_to_abuse"],
                        k["events"],
                        k["tokens_in"],
                        k["tokens_out"],
                    ],
                )
            for t in crew.timeline:
                con.execute(
                    "INSERT INTO timeline VALUES (?, ?::TIMESTAMPTZ, ?, ?, ?, ?)",
                    [
                        crew.id,
                        t["time"],
                        t["stage"],
                        t["key_fingerprint"],
                        t["description"],
                        t["evidence_ids"],
                    ],
                )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def to_json(result: Result) -> dict[str, Any]:
    """The attribution as one JSON document (``attribute --format json``)."""
    return {
        "seeds": result.seeds,
        "abuse_events": result.abuse_events,
        "nodes": result.nodes,
        "edges": result.edges,
        "notes": result.notes,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "crews": [
            {
                "id": c.id,
                "name": c.name,
                "first_time": c.first_time,
                "last_time": c.last_time,
                "summary": c.summary,
                "members": [m.__dict__ for m in c.members],
                "keys": [{k: v for k, v in key.items() if k != "finding_id"} for key in c.keys],
                "timeline": c.timeline,
            }
            for c in result.crews
        ],
    }


def dumps(result: Result) -> str:
    return json.dumps(to_json(result), indent=2)
