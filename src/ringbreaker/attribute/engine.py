"""From alerts to crews: the abuse subgraph, its communities, and who plays which role.

Why seeded by alerts: legitimate traffic dwarfs abuse and shares hubs with it (cloud ASNs, SDK
user agents). Starting only from the source addresses that high/critical alerts name, and from the
events those addresses sent, keeps customers out of crews by construction, and keeps the graph
to the size of the abuse, whatever the size of the workspace.

Steps, each leaving evidence:
1. seeds: src_ips named by alerts at or above ``min_severity``; a masked Azure caller (a.b.c.***)
   stands for its /24;
2. abuse events: every event from a seed address, plus masked Azure calls from a seed /24 (entity
   resolution: contracted into the crew address of that /24, and said in its evidence); Azure
   calls name only the resource, which is joined to the leaked key whose finding names it;
3. graph: addresses linked by the stolen keys and control-plane principals they share; Leiden
   (igraph's, CPM objective, resolution relative to each connected component's density) finds
   the crews; a community must use keys of two victims (a reseller pools keys) or run a published
   tool to count as a crew;
4. members: keys, tool fingerprints (user agents) and end users join the crew whose addresses sent
   most of their requests; public repositories whose code contains a crew's tool fingerprint give
   its creators (authors of code) and providers (authors of deployment configs, with their hosts);
5. keys (with their victims, who are never members), and the leak-to-abuse timeline.
"""

from __future__ import annotations

import hashlib
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
MAX_EVIDENCE = 10  # event ids kept per member; per timeline step and end user: EVIDENCE_STEP
EVIDENCE_STEP = 5
_MASKED = re.compile(r"^(\d+\.\d+\.\d+)\.\*+$")  # Azure diagnostics: 203.0.113.***


@dataclass(frozen=True)
class AttributeConfig:
    """Knobs of ``attribute``; the defaults are what the benchmarks measure."""

    code: tuple[Path, ...] = ()
    min_severity: str = "high"
    resolution: float = 0.5  # CPM resolution, as a fraction of each component's weighted density
    min_victims: int = 2  # ... and hold keys of this many victims (pooling), or a published tool
    seed: int = 1
    # DuckDB's memory limit while attributing (None: its default, 80% of RAM). 1700MB keeps a
    # 10M-event run under 2 GB in all at full speed; 1500MB already spills and takes half again longer.
    memory_limit: str | None = "1700MB"


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
    """One crew as found. ``members`` holds the named infrastructure, tools and people; its end users,
    stolen keys and timeline (possibly hundreds of thousands of rows) go straight from SQL to the
    workspace tables and are counted here. ``keys`` and ``timeline`` are filled only for the
    ``unattributed`` case, which is built in Python."""

    id: str
    name: str
    members: list[Member]
    keys: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    first_time: str | None
    last_time: str | None
    summary: str
    community: int | None = None  # Leiden community; None for the ``unattributed`` case
    key_count: int = 0
    victim_count: int = 0
    user_count: int = 0


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
    return bool(_MASKED.match(ip))


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


def _abuse_view(con: duckdb.DuckDBPyConnection, ips: set[str], nets: set[str]) -> bool:
    """TEMP view ``abuse``: the events the seeds sent, with the node they hang on and their key;
    whether there is any (the count comes later, from a query that scans them anyway)."""
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
        CREATE OR REPLACE TEMP VIEW abuse AS
        WITH e AS (
            SELECT * FROM events
            WHERE src_ip IN (SELECT ip FROM seed_ip)
               OR (ends_with(src_ip, '*')  -- cheap test first: the regex runs on masked callers only
                   AND regexp_replace(src_ip, {masked}, '\\1.0/24') IN (SELECT net FROM seed_net))
        )
        SELECT e.id, e.time, e.provider, e.operation, e.actor, e.user_agent, e.tokens_in, e.tokens_out,
               e.end_user, e.source_format,
               CASE WHEN ends_with(e.src_ip, '*') AND regexp_matches(e.src_ip, {masked})
                    THEN regexp_replace(e.src_ip, {masked}, '\\1.0/24') ELSE e.src_ip END AS node,
               coalesce(e.key_fingerprint, k.fingerprint) AS key_fp,
               coalesce(e.account, regexp_extract(e.resource, '(?i)/subscriptions/([^/]+)', 1)) AS victim,
               {STAGE_SQL} AS stage
        FROM e LEFT JOIN key_by_resource k
          ON e.key_fingerprint IS NULL
         AND k.resource = lower(regexp_extract(e.resource, '(?i)/accounts/([^/]+)', 1))
        """
    )
    return bool(_one(con, "SELECT count(*) FROM (SELECT 1 FROM abuse LIMIT 1)")[0])


def _leiden(
    n: int, src: list[int], dst: list[int], weights: list[float], factor: float, seed: int
) -> list[int]:
    """Communities of addresses: Leiden (CPM) inside each connected component, at a resolution of
    ``factor`` times that component's own weighted density.

    Why relative: one absolute resolution either splits big crews or merges small ones. At half
    the component's density a uniformly connected crew stays whole (cutting it costs more edge
    weight than the pairs it saves), while two crews joined by a stray shared key are split (each
    is about twice as dense as their union).
    """
    import random

    import igraph as ig

    random.seed(seed)
    ig.set_random_number_generator(random)
    g = ig.Graph(n=n, edges=list(zip(src, dst, strict=True)), directed=False)
    g.es["weight"] = weights
    membership = [0] * n
    next_id = 0
    for comp in g.connected_components():
        if len(comp) <= 2:
            for v in comp:
                membership[v] = next_id
            next_id += 1
            continue
        sub = g.subgraph(comp)
        density = sum(sub.es["weight"]) / (len(comp) * (len(comp) - 1) / 2)
        part = sub.community_leiden(
            objective_function="CPM", weights="weight", resolution=factor * density, n_iterations=-1
        )
        for v, c in zip(comp, part.membership, strict=True):
            membership[v] = next_id + c
        next_id += max(part.membership) + 1
    return membership


def _ua_in_code(ua: str, text: str) -> bool:
    return len(ua) >= 6 and (f'"{ua}"' in text or f"'{ua}'" in text or f"`{ua}`" in text)


_IPV4 = r"'^(\d+\.\d+\.\d+)\.\d+$'"


HUB_USERS = 1000  # a key or principal used from more addresses than this links nothing (a hub)


def _graph(con: duckdb.DuckDBPyConnection, cfg: AttributeConfig) -> tuple[int, int]:
    """Cluster the crew addresses; leave TEMP TABLE ``abuse_c`` (abuse events + crew number).

    The graph is the addresses' projection of the address--key (and address--principal) usage
    graph: two addresses are linked by every key they both used, each shared key weighing
    1/(its number of addresses - 1), so that a key everyone uses links no one strongly. Keys are
    not nodes: a key used once would otherwise be cut off into a community of its own. Keys, like
    user agents and end users, then join the crew that sent most of their requests.

    Entity resolution happens first, as a contraction: a masked /24 (Azure logs hide the last
    octet) that holds crew addresses becomes its busiest address, so the stolen Azure key seen only
    through the mask lands in the same crew. Were two crews to share a /24, its masked traffic
    would go to the busier one; the address's evidence says when a merge happened.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_alias AS
        WITH busy AS (SELECT node, count(*) AS n FROM abuse
                      WHERE regexp_matches(node, {_IPV4}) GROUP BY node),
        rep AS (SELECT regexp_replace(node, {_IPV4}, '\\1.0/24') AS net, arg_max(node, n) AS rep
                FROM busy GROUP BY net)
        SELECT m.node, coalesce(rep.rep, m.node) AS rep
        FROM (SELECT DISTINCT node FROM abuse) m LEFT JOIN rep ON rep.net = m.node
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE g_use_s AS
        SELECT g.rep AS ip, 'key:' || a.key_fp AS item, count(*) AS n
        FROM abuse a JOIN g_alias g USING (node) WHERE a.key_fp IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT g.rep, 'principal:' || a.actor, count(*)
        FROM abuse a JOIN g_alias g USING (node)
        WHERE a.source_format = 'azure-activity' AND a.actor IS NOT NULL GROUP BY ALL
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_nodes AS SELECT ip AS name, "
        "(row_number() OVER (ORDER BY ip) - 1)::INTEGER AS idx FROM (SELECT DISTINCT rep AS ip FROM g_alias)"
    )
    # Integers from here on: the pair self-join below is the biggest hash table of the run.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_use AS SELECT n.idx AS ip, "
        "dense_rank() OVER (ORDER BY u.item)::INTEGER AS item FROM g_use_s u JOIN g_nodes n ON n.name = u.ip"
    )
    con.execute("DROP TABLE g_use_s")
    e = con.sql(
        f"""
        WITH m AS (SELECT item, count(*) AS users FROM g_use GROUP BY item
                   HAVING count(*) BETWEEN 2 AND {HUB_USERS}),
        u AS (SELECT g_use.ip, g_use.item, m.users FROM g_use JOIN m USING (item))
        SELECT u1.ip AS s, u2.ip AS d, sum(1.0 / (u1.users - 1)) AS w
        FROM u u1 JOIN u u2 ON u1.item = u2.item AND u1.ip < u2.ip
        GROUP BY ALL
        """
    ).to_arrow_table()
    n = int(_one(con, "SELECT count(*) FROM g_nodes")[0])
    membership = _leiden(
        n, e["s"].to_pylist(), e["d"].to_pylist(), e["w"].to_pylist(), cfg.resolution, cfg.seed
    )
    import pyarrow as pa

    g_comm = pa.table({"idx": list(range(n)), "crew": membership})  # noqa: F841 (read by DuckDB)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_comm AS SELECT idx::INTEGER AS idx, crew::INTEGER AS crew FROM g_comm"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE node_crew AS SELECT g.node, c.crew FROM g_alias g "
        "JOIN g_nodes n ON n.name = g.rep JOIN g_comm c ON c.idx = n.idx"
    )
    con.execute(  # views, not copies: the workspace's compressed columns are scanned again instead
        "CREATE OR REPLACE TEMP VIEW abuse_c AS "
        "SELECT a.*, nc.crew FROM abuse a JOIN node_crew nc USING (node)"
    )
    # A stolen key belongs to the crew that sent most of its requests (one case per key).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE key_crew AS SELECT key_fp, arg_max(crew, n) AS crew FROM "
        "(SELECT key_fp, crew, count(*) AS n FROM abuse_c WHERE key_fp IS NOT NULL GROUP BY ALL) "
        "GROUP BY key_fp"
    )
    uses = int(_one(con, "SELECT count(*) FROM g_use")[0])
    return n + int(_one(con, "SELECT count(DISTINCT item) FROM g_use")[0]), uses + e.num_rows


def attribute(con: duckdb.DuckDBPyConnection, cfg: AttributeConfig = AttributeConfig()) -> Result:
    """Find crews in the workspace and write crews, crew_members, crew_keys and timeline.

    Every step is a grouped query over the abuse events (no per-crew round trips), so the cost
    grows with the events scanned once, not with the number of crews. The tables are replaced as
    a whole inside one transaction: a failed run leaves the previous attribution intact.
    """
    if cfg.min_severity not in SEVERITIES:
        raise UsageError(f"unknown severity {cfg.min_severity!r}; one of {', '.join(SEVERITIES)}")
    if cfg.memory_limit and not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", cfg.memory_limit, re.IGNORECASE):
        raise UsageError(f"memory limit {cfg.memory_limit!r} is not a size such as 1700MB or 2GB")
    repos = index(list(cfg.code)) if cfg.code else []
    before = _one(con, "SELECT current_setting('memory_limit')")[0]
    if cfg.memory_limit:
        con.execute(f"SET memory_limit = '{cfg.memory_limit}'")
    try:
        return _attribute(con, cfg, repos)
    finally:
        con.execute(f"SET memory_limit = '{before}'")


def _attribute(con: duckdb.DuckDBPyConnection, cfg: AttributeConfig, repos: list[Repo]) -> Result:
    ips, nets, alerts_by_ip = _seeds(con, cfg.min_severity)
    result = Result([], len(ips) + len(nets), 0, 0, 0)
    if not ((ips or nets) and _abuse_view(con, ips, nets)):
        result.notes.append(
            f"no events from addresses named by {cfg.min_severity}+ alerts: run detect first"
            if not alerts_by_ip
            else "alerts name addresses, but no events came from them"
        )
        orphan = _unattributed(con, cfg.min_severity, set())
        _store(con, [orphan] if orphan else [])
        result.crews = [orphan] if orphan else []
        return result
    result.nodes, result.edges = _graph(con, cfg)

    parts = _parts(con, alerts_by_ip)
    result.abuse_events = parts.events
    # Tool fingerprints: user agents the crew's addresses send and customers never do; each joins
    # the crew that sent most of its requests.
    by_ua: dict[str, Counter[int]] = defaultdict(Counter)
    for c, per_ua in parts.uas.items():
        for ua, (n, _) in per_ua.items():
            by_ua[ua][c] += n
    common = {
        ua
        for (ua,) in con.execute(
            "SELECT DISTINCT user_agent FROM events WHERE user_agent IN (SELECT unnest(?::VARCHAR[])) "
            "AND src_ip NOT IN (SELECT ip FROM seed_ip) AND NOT contains(coalesce(src_ip, ''), '*')",
            [sorted(by_ua)],
        ).fetchall()
    }
    ua_crew = {ua: votes.most_common(1)[0][0] for ua, votes in by_ua.items() if ua not in common}
    repo_crew: dict[str, int] = {}
    for repo in repos:
        text = repo.added_text()
        votes = Counter(c for ua, c in ua_crew.items() if _ua_in_code(ua, text))
        if votes:
            repo_crew[repo.name] = votes.most_common(1)[0][0]

    victims = {c: v for c, (_, v, _) in parts.counts.items()}  # owners of the keys each crew holds
    crews: list[CrewResult] = []
    for c in sorted(set(victims) | set(repo_crew.values())):
        tools = [r for r in repos if repo_crew.get(r.name) == c]
        if victims.get(c, 0) < cfg.min_victims and not tools:
            result.notes.append(
                f"community {c} uses keys of {victims.get(c, 0)} victim(s) and runs no published tool: "
                "not a crew (a reseller pools several victims' keys)"
            )
            continue
        crews.append(_crew(c, parts, tools, ua_crew))
    crews.sort(key=lambda x: (x.first_time or "", x.id))
    kept = [c.community for c in crews]
    placed = {
        k
        for (k,) in con.execute(
            "SELECT key_fp FROM key_crew WHERE crew IN (SELECT unnest(?::INTEGER[]))", [kept]
        ).fetchall()
    }
    orphan = _unattributed(con, cfg.min_severity, placed)
    if orphan is not None:
        crews.append(orphan)
    _store(con, crews)
    result.crews = crews
    return result


@dataclass
class _Parts:
    """Per-crew rows of the small grouped queries, keyed by community number. Keys, end users and
    the timeline can be hundreds of thousands of rows: they go from SQL to the tables directly
    (see ``_store``), and only their counts come back here."""

    ips: dict[int, list[Member]] = field(default_factory=lambda: defaultdict(list))
    accounts: dict[int, list[Member]] = field(default_factory=lambda: defaultdict(list))
    uas: dict[int, dict[str, tuple[int, list[str]]]] = field(default_factory=lambda: defaultdict(dict))
    counts: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # keys, victims, end users
    span: dict[int, tuple[str, str]] = field(default_factory=dict)
    events: int = 0  # abuse events in all
    merged: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # masked /24s


# End users: each joins the crew that carried most of its requests (evidence: its first requests,
# and how many of its prompts classify rated high or critical).
_END_USERS = f"""
SELECT end_user, arg_max(crew, n) AS crew, sum(n) AS n, arg_max(ids, n) AS ids, sum(bad) AS bad
FROM (SELECT a.end_user, a.crew, count(*) AS n, arg_min(a.id, a.time, {EVIDENCE_STEP}) AS ids,
             count(v.event_id) FILTER (WHERE v.severity IN ('high', 'critical')) AS bad
      FROM abuse_c a LEFT JOIN verdicts v ON v.event_id = a.id
      WHERE a.end_user IS NOT NULL GROUP BY a.end_user, a.crew)
GROUP BY end_user
"""

# Stolen keys of the crews in crew_map, with their earliest leak.
_KEYS = """
WITH a AS (
    SELECT crew, key_fp, any_value(victim) AS victim, any_value(provider) AS provider,
           min(time) AS first_abuse, count(*) AS n, sum(tokens_in) AS tin, sum(tokens_out) AS tout
    FROM abuse_c JOIN key_crew USING (key_fp, crew) GROUP BY crew, key_fp
), f AS (
    SELECT fingerprint, arg_min(preview, leak_time) AS preview, min(leak_time) AS leak_time,
           arg_min(path, leak_time) AS loc, arg_min(id, leak_time) AS fid
    FROM findings GROUP BY fingerprint
)
SELECT m.crew_id, a.key_fp, a.victim, a.provider, f.preview, f.leak_time, f.loc, a.first_abuse,
       CASE WHEN f.leak_time IS NOT NULL
            THEN (epoch(a.first_abuse) - epoch(f.leak_time)) / 60.0 END AS minutes,
       a.n, a.tin, a.tout, f.fid
FROM a JOIN crew_map m ON m.crew = a.crew LEFT JOIN f ON f.fingerprint = a.key_fp
"""

_WORDS = """CASE stage WHEN 'key-check' THEN 'checked the key' WHEN 'model-enablement' THEN 'enabled models'
    WHEN 'abuse' THEN 'used the key for model calls'
    WHEN 'guardrail-tampering' THEN 'weakened safety controls'
    ELSE stage END"""

# The timeline: each key's leak (from crew_keys, inserted first), then per key and stage the first
# event, with counts and evidence.
_TIMELINE = f"""
SELECT k.crew_id, k.leak_time, 'leak', k.key_fingerprint,
       'key ' || coalesce(k.preview, left(k.key_fingerprint, 12)) || ' published in '
       || coalesce(k.leak_location, '?'),
       CASE WHEN f.fid IS NULL THEN [] ELSE [f.fid] END
FROM crew_keys k  -- written just before, in the same transaction
LEFT JOIN (SELECT fingerprint, arg_min(id, leak_time) AS fid FROM findings GROUP BY fingerprint) f
       ON f.fingerprint = k.key_fingerprint
WHERE k.leak_time IS NOT NULL AND k.crew_id IN (SELECT crew_id FROM crew_map)
UNION ALL
SELECT m.crew_id, t.first, t.stage, t.key_fp,
       {_WORDS} || ' with ' || coalesce('key ' || left(t.key_fp, 12), 'the victim''s resource') || ': '
       || format('{{:,}}', t.n) || ' event(s) (' || array_to_string(t.ops, ', ') || ')',
       t.ids
FROM (SELECT crew, key_fp, stage, min(time) AS first, count(*) AS n,
             arg_min(id, time, {EVIDENCE_STEP}) AS ids,
             list(DISTINCT operation ORDER BY operation)[:5] AS ops
      FROM abuse_c GROUP BY crew, key_fp, stage) t JOIN crew_map m ON m.crew = t.crew
UNION ALL
SELECT m.crew_id, t.first, 'prohibited-content', t.key_fp,
       format('{{:,}}', t.n) || ' prompt(s) rated ' || CASE WHEN t.critical THEN 'critical' ELSE 'high' END
       || ' by the prompt model',
       t.ids
FROM (SELECT a.crew, a.key_fp, min(a.time) AS first, count(*) AS n,
             arg_min(a.id, a.time, {EVIDENCE_STEP}) AS ids,
             max(v.severity = 'critical') AS critical
      FROM abuse_c a JOIN verdicts v ON v.event_id = a.id
      WHERE v.severity IN ('high', 'critical') GROUP BY a.crew, a.key_fp) t JOIN crew_map m ON m.crew = t.crew
"""


def _parts(con: duckdb.DuckDBPyConnection, alerts_by_ip: dict[str, list[str]]) -> _Parts:
    p = _Parts()
    n_ev = MAX_EVIDENCE
    for c, node, n, nkeys, nvictims, ids, lo, hi in con.sql(
        "SELECT crew, node, count(*), count(DISTINCT key_fp), count(DISTINCT victim), "
        f"arg_min(id, time, {n_ev}), strftime(min(time), '%Y-%m-%dT%H:%M:%SZ'), "
        "strftime(max(time), '%Y-%m-%dT%H:%M:%SZ') FROM abuse_c GROUP BY crew, node ORDER BY crew, node"
    ).fetchall():
        p.events += n
        span = p.span.get(c)
        p.span[c] = (min(span[0], lo), max(span[1], hi)) if span else (lo, hi)
        if node.endswith("/24"):
            p.merged[c].add(node)
            continue  # a masked /24 is evidence for the crew's addresses in it, not a member itself
        alert_ids = alerts_by_ip.get(node, [])
        p.ips[c].append(
            Member(
                "ip",
                node,
                "provider",
                min(1.0, 0.5 + 0.1 * nkeys + 0.1 * nvictims + (0.2 if alert_ids else 0)),
                f"sent {n:,} requests with {nkeys} stolen key(s) of {nvictims} victim(s)"
                + (f"; named by {len(alert_ids)} alert(s)" if alert_ids else ""),
                (alert_ids + list(ids))[:n_ev],
            )
        )
    for c, members in p.ips.items():
        for m in members:
            net = _net(m.entity)
            if net in p.merged[c]:
                m.evidence += f"; masked Azure callers from {net} resolved to this address's /24"
    for c, actor, ids, ops in con.sql(
        f"SELECT crew, actor, arg_min(id, time, {n_ev}), list(DISTINCT operation ORDER BY operation) "
        "FROM abuse_c "
        "WHERE source_format = 'azure-activity' AND actor IS NOT NULL GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        p.accounts[c].append(
            Member(
                "account",
                actor,
                "provider",
                0.8,
                f"signed in from crew addresses for control-plane changes: {', '.join(ops)}",
                list(ids),
            )
        )
    for c, ua, n, ids in con.sql(
        f"SELECT crew, user_agent, count(*), arg_min(id, time, {EVIDENCE_STEP}) FROM abuse_c "
        "WHERE user_agent IS NOT NULL "
        "GROUP BY ALL"
    ).fetchall():
        p.uas[c][ua] = (n, list(ids))
    for c, nkeys, nvictims in con.sql(
        "SELECT crew, count(*), count(DISTINCT victim) FROM "
        "(SELECT DISTINCT crew, key_fp, victim FROM abuse_c "
        "JOIN key_crew USING (key_fp, crew)) GROUP BY crew"
    ).fetchall():
        p.counts[c] = (nkeys, nvictims, 0)
    # End users once, into a small table that _store inserts from (one scan of the abuse events).
    con.execute(f"CREATE OR REPLACE TEMP TABLE crew_end_users AS {_END_USERS}")
    for c, users in con.sql("SELECT crew, count(*) FROM crew_end_users GROUP BY crew").fetchall():
        k, v, _ = p.counts.get(c, (0, 0, 0))
        p.counts[c] = (k, v, users)
    return p


def _crew(c: int, parts: _Parts, tools: list[Repo], ua_crew: dict[str, int]) -> CrewResult:
    members: list[Member] = [*parts.ips.get(c, []), *parts.accounts.get(c, [])]
    code_text = "\n".join(r.added_text() for r in tools)
    for ua, (n, ids) in sorted(parts.uas.get(c, {}).items()):
        if ua_crew.get(ua) != c:
            continue
        repo_names = [r.name for r in tools if _ua_in_code(ua, r.added_text())]
        members.append(
            Member(
                "tool",
                ua,
                "creator",
                0.95 if _ua_in_code(ua, code_text) else 0.6,
                f"client fingerprint of {n:,} crew requests, never sent by customers"
                + (f"; hard-coded in {', '.join(repo_names)}" if repo_names else ""),
                [*(f"repo:{r}" for r in repo_names), *ids],
            )
        )
    for repo in tools:
        members.extend(_repo_members(repo))
    nkeys, nvictims, nusers = parts.counts.get(c, (0, 0, 0))
    nodes = sorted(m.entity for m in members if m.kind == "ip") or sorted(parts.merged.get(c, set()))
    cid = "crew-" + _hid(*(nodes + sorted(r.name for r in tools)), n=8)
    full_ips = [m.entity for m in members if m.kind == "ip"]
    name = tools[0].name if tools else (full_ips[0] if full_ips else cid)
    roles = Counter(m.role for m in members)
    summary = (
        f"{nkeys} stolen key(s) of {nvictims} victim(s); "
        f"{roles['creator']} creator, {roles['provider']} provider and {roles['user'] + nusers} user entities"
    )
    lo, hi = parts.span.get(c, (None, None))
    return CrewResult(
        cid, name, members, [], [], lo, hi, summary, community=c, key_count=nkeys, user_count=nusers
    )


def _repo_members(repo: Repo) -> list[Member]:
    """The published tool, its authors (code: creator; deployment config: provider) and hosts."""
    first = repo.commits[0] if repo.commits else None
    out = [
        Member(
            "tool",
            repo.name,
            "creator",
            0.9,
            f"published tooling ({repo.path}) whose code sends the crew's client fingerprint",
            [f"commit:{x.sha}" for x in repo.commits][:MAX_EVIDENCE],
        )
    ]
    people: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"code": [], "deploy": [], "hosts": []})
    for commit in repo.commits:
        hosts = commit.hosts()
        person = people[commit.author]
        if hosts:
            person["deploy"].append(commit)
            person["hosts"].extend(hosts)
        else:
            person["code"].append(commit)
    for name, what in sorted(people.items()):
        if what["code"]:
            role, why, commits = (
                "creator",
                f"authored {len(what['code'])} code commit(s) of {repo.name}",
                what["code"],
            )
            conf = 0.9 if first is not None and first.author == name else 0.8
        else:
            role, why, commits = "provider", f"committed the deployment config of {repo.name}", what["deploy"]
            conf = 0.8
        out.append(Member("person", name, role, conf, why, [f"commit:{x.sha}" for x in commits]))
        for host in sorted(set(what["hosts"])):
            out.append(
                Member(
                    "proxy_host",
                    host,
                    "provider",
                    0.8,
                    f"public host of the {repo.name} deployment committed by {name}",
                    [f"commit:{x.sha}" for x in what["deploy"]],
                )
            )
    return out


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


def _store(con: duckdb.DuckDBPyConnection, crews: list[CrewResult]) -> None:
    """Replace the attribution tables in one transaction.

    Named members (and the ``unattributed`` case) go through Arrow; end users, stolen keys and the
    timeline are inserted by SQL straight from the abuse events, for the crews in ``crew_map``.
    """
    import pyarrow as pa

    s_ = pa.string()
    crew_map_rows = pa.table(
        {
            "crew": pa.array([c.community for c in crews if c.community is not None], pa.int32()),
            "crew_id": pa.array([c.id for c in crews if c.community is not None], s_),
        }
    )
    crew_rows = pa.table(  # noqa: F841
        {
            "id": pa.array([c.id for c in crews], s_),
            "name": pa.array([c.name for c in crews], s_),
            "lo": pa.array([c.first_time for c in crews], s_),
            "hi": pa.array([c.last_time for c in crews], s_),
            "summary": pa.array([c.summary for c in crews], s_),
        }
    )
    seen: set[tuple[str, str, str]] = set()
    cols: dict[str, list[Any]] = defaultdict(list)
    for c in crews:
        for m in c.members:
            if (c.id, m.kind, m.entity) in seen:
                continue
            seen.add((c.id, m.kind, m.entity))
            for k, v in (
                ("crew_id", c.id),
                ("kind", m.kind),
                ("entity", m.entity),
                ("role", m.role),
                ("confidence", round(m.confidence, 3)),
                ("evidence", m.evidence),
                ("evidence_ids", m.evidence_ids),
            ):
                cols[k].append(v)
    member_rows = pa.table(  # noqa: F841
        {
            "crew_id": pa.array(cols["crew_id"], s_),
            "kind": pa.array(cols["kind"], s_),
            "entity": pa.array(cols["entity"], s_),
            "role": pa.array(cols["role"], s_),
            "confidence": pa.array(cols["confidence"], pa.float64()),
            "evidence": pa.array(cols["evidence"], s_),
            "evidence_ids": pa.array(cols["evidence_ids"], pa.list_(s_)),
        }
    )
    py_keys = [{"crew_id": c.id, **k} for c in crews for k in c.keys]
    key_rows = pa.Table.from_pylist(  # noqa: F841
        [{k: v for k, v in row.items() if k != "finding_id"} for row in py_keys],
        schema=pa.schema(
            [
                ("crew_id", s_),
                ("key_fingerprint", s_),
                ("victim", s_),
                ("provider", s_),
                ("preview", s_),
                ("leak_time", s_),
                ("leak_location", s_),
                ("first_abuse", s_),
                ("minutes_to_abuse", pa.float64()),
                ("events", pa.int64()),
                ("tokens_in", pa.int64()),
                ("tokens_out", pa.int64()),
            ]
        ),
    )
    time_rows = pa.Table.from_pylist(  # noqa: F841
        [{"crew_id": c.id, **t} for c in crews for t in c.timeline],
        schema=pa.schema(
            [
                ("crew_id", s_),
                ("time", s_),
                ("stage", s_),
                ("key_fingerprint", s_),
                ("description", s_),
                ("evidence_ids", pa.list_(s_)),
            ]
        ),
    )
    sql_parts = bool(crew_map_rows.num_rows)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("timeline", "crew_keys", "crew_members", "crews"):
            con.execute(f"DELETE FROM {table}")
        con.execute(
            "INSERT INTO crews SELECT id, name, lo::TIMESTAMPTZ, hi::TIMESTAMPTZ, summary FROM crew_rows"
        )
        con.execute("INSERT INTO crew_members SELECT * FROM member_rows")
        con.execute(
            "INSERT INTO crew_keys SELECT crew_id, key_fingerprint, victim, provider, preview, "
            "leak_time::TIMESTAMPTZ, leak_location, first_abuse::TIMESTAMPTZ, minutes_to_abuse, events, "
            "tokens_in, tokens_out FROM key_rows"
        )
        con.execute(
            "INSERT INTO timeline SELECT crew_id, time::TIMESTAMPTZ, stage, key_fingerprint, description, "
            "evidence_ids FROM time_rows"
        )
        if sql_parts:
            con.execute("CREATE OR REPLACE TEMP TABLE crew_map AS SELECT * FROM crew_map_rows")
            con.execute(
                """
                INSERT INTO crew_members
                SELECT m.crew_id, 'end_user', u.end_user, 'user', CASE WHEN u.bad > 0 THEN 0.9 ELSE 0.75 END,
                       format('{:,}', u.n) || ' requests through the crew''s proxy'
                       || CASE WHEN u.bad > 0 THEN '; ' || u.bad || ' prompt(s) rated high or critical'
                               ELSE '' END,
                       u.ids
                FROM crew_end_users u JOIN crew_map m ON m.crew = u.crew
                """
            )
            con.execute(
                f"INSERT INTO crew_keys SELECT crew_id, key_fp, victim, provider, preview, leak_time, loc, "
                f"first_abuse, minutes, n, tin, tout FROM ({_KEYS})"
            )
            con.execute(f"INSERT INTO timeline {_TIMELINE}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def to_json(con: duckdb.DuckDBPyConnection, result: Result) -> dict[str, Any]:
    """The attribution as one JSON document (``attribute --format json``), read back from the
    tables it was written to, so the document and the workspace always agree."""

    def rows(q: str) -> list[dict[str, Any]]:
        rel = con.sql(q)
        names = rel.columns
        return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]

    ts = "strftime({}, '%Y-%m-%dT%H:%M:%SZ')"
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows("SELECT * FROM crew_members ORDER BY crew_id, role, kind, entity"):
        members[r.pop("crew_id")].append(r)
    keys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(
        f"SELECT * EXCLUDE (leak_time, first_abuse), {ts.format('leak_time')} AS leak_time, "
        f"{ts.format('first_abuse')} AS first_abuse FROM crew_keys "
        "ORDER BY crew_id, first_abuse, key_fingerprint"
    ):
        keys[r.pop("crew_id")].append(r)
    timeline: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(
        f"SELECT * EXCLUDE (time), {ts.format('time')} AS time FROM timeline ORDER BY crew_id, time, stage"
    ):
        timeline[r.pop("crew_id")].append(r)
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
                "members": members.get(c.id, []),
                "keys": keys.get(c.id, []),
                "timeline": timeline.get(c.id, []),
            }
            for c in result.crews
        ],
    }
