"""From alerts to crews: the abuse subgraph, its communities, and who plays which role.

Why seeded by alerts: legitimate traffic dwarfs abuse and shares hubs with it (cloud ASNs, SDK
user agents). Starting from the source addresses that high/critical alerts name, and growing only
along stolen keys used after their theft by addresses the owner never used, keeps customers out of
crews and keeps the graph to the size of the abuse, whatever the size of the workspace.

Steps, each leaving evidence:
1. seeds: src_ips named by alerts at or above ``min_severity``; a masked Azure caller (a.b.c.***)
   stands for its /24;
2. infrastructure over time: every other address that used a stolen key (leaked, or named by an
   alert) after it was stolen, and that is not the owner's, joins: a crew's checker and the egress
   of every day of a rotation, whether or not an alert named them;
3. abuse events: every event from those addresses, plus masked Azure calls from a seed /24 (entity
   resolution: contracted into the crew address of that /24, and said in its evidence); Azure
   calls name only the resource, which is joined to the leaked key whose finding names it;
4. graph: addresses linked by the stolen keys and control-plane principals they share, weakly by a
   tool fingerprint; proxy-pool exits folded into one node per key; exits that crews share cut out;
   Leiden (igraph's, CPM objective, resolution relative to each connected component's density)
   finds the crews; a community is a crew when it pools two victims' keys, runs a published tool,
   or first used its stolen key after the theft (one operator), each with a confidence;
5. members: keys, tool fingerprints (user agents) and end users join the crew whose addresses sent
   most of their requests; each address gets its part (checker, control plane, egress, pool,
   shared); public repositories whose code contains a crew's tool fingerprint give its creators
   (authors of code) and providers (authors of deployment configs, with their hosts);
6. keys (with their victims, who are never members), the leak-to-abuse timeline and the edges.

Steps 1-4 are :mod:`ringbreaker.attribute.graph`, step 5 :mod:`ringbreaker.attribute.roles` and
step 6 :mod:`ringbreaker.attribute.store`; this module runs them in order and reads the result
back as JSON.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.attribute import graph, roles, store
from ringbreaker.attribute.code import Repo, index
from ringbreaker.attribute.roles import CrewResult
from ringbreaker.errors import UsageError
from ringbreaker.model import ALERT_SEVERITIES
from ringbreaker.workspace import guarded

__all__ = ["SEVERITIES", "AttributeConfig", "Result", "attribute", "to_json"]

SEVERITIES = ALERT_SEVERITIES  # the scale min_severity is read on (model.Severity, alerts)
_EPOCH = datetime.fromtimestamp(0, UTC)  # sorts a crew with no time first, as its empty text did


@dataclass(frozen=True)
class AttributeConfig:
    """Knobs of ``attribute``; the defaults are what the benchmarks measure."""

    code: tuple[Path, ...] = ()
    min_severity: str = "high"
    resolution: float = 0.5  # CPM resolution, as a fraction of each component's weighted density
    min_victims: int = 2  # keys of this many victims make a crew (pooling); fewer need stolen keys
    seed: int = 1
    # DuckDB's memory limit while attributing (None: its default, 80% of RAM). 1400MB keeps a
    # 10M-event run under 2 GB in all (the process adds Python's edge lists and igraph's graph).
    memory_limit: str | None = "1400MB"


@dataclass
class Result:
    """What a run found: its crews (the ``unattributed`` case last) and the size of its graph."""

    crews: list[CrewResult]
    seeds: int
    abuse_events: int
    nodes: int
    edges: int
    notes: list[str] = field(default_factory=list)


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
    before = graph.one_row(con, "SELECT current_setting('memory_limit')")[0]
    if cfg.memory_limit:
        con.execute(f"SET memory_limit = '{cfg.memory_limit}'")
    with guarded(con, "attribute"):
        try:
            return _attribute(con, cfg, repos)
        finally:
            con.execute(f"SET memory_limit = '{before}'")


def _attribute(con: duckdb.DuckDBPyConnection, cfg: AttributeConfig, repos: list[Repo]) -> Result:
    levels = [str(s) for s in SEVERITIES[SEVERITIES.index(cfg.min_severity) :]]
    ips, nets, alerts_by_ip = graph.seeds(con, levels)
    result = Result([], len(ips) + len(nets), 0, 0, 0)
    if not ((ips or nets) and graph.abuse_view(con, ips, nets, levels)):
        result.notes.append(
            f"no events from addresses named by {cfg.min_severity}+ alerts: run detect first"
            if not alerts_by_ip
            else "alerts name addresses, but no events came from them"
        )
        orphan = roles.unattributed(con, levels, set())
        store.write(con, [orphan] if orphan else [])
        result.crews = [orphan] if orphan else []
        return result
    result.nodes, result.edges = graph.cluster(con, cfg.resolution, cfg.seed)

    parts = roles.gather(con, alerts_by_ip)
    result.abuse_events = parts.events
    ua_crew, repo_crew = roles.tool_crews(parts, repos)

    crews: list[CrewResult] = []
    for c in sorted(set(parts.counts) | set(repo_crew.values())):
        tools = [r for r in repos if repo_crew.get(r.name) == c]
        tie = _ties(c, parts, tools, ua_crew, alerts_by_ip, cfg.min_victims)
        if tie is None:
            nkeys, nvictims, _ = parts.counts.get(c, (0, 0, 0))
            result.notes.append(
                f"community {c} uses {nkeys} key(s) of {nvictims} victim(s), none first used after it was "
                "stolen, and runs no published tool: not a crew (a reseller pools several victims' keys; "
                "this looks like the owner's own traffic)"
            )
            continue
        crews.append(roles.crew(c, parts, tools, ua_crew, *tie))
    crews = _shared_evidence(crews)
    crews.sort(key=lambda x: (x.crew.first_time is not None, x.crew.first_time or _EPOCH, x.id))
    kept = [c.community for c in crews]
    placed = {
        k
        for (k,) in con.execute(
            "SELECT key_fp FROM key_crew WHERE crew IN (SELECT unnest(?::INTEGER[]))", [kept]
        ).fetchall()
    }
    orphan = roles.unattributed(con, levels, placed)
    if orphan is not None:
        crews.append(orphan)
    store.write(con, crews)
    result.crews = crews
    return result


def _ties(
    c: int,
    parts: roles.Parts,
    tools: list[Repo],
    ua_crew: dict[str, int],
    alerts_by_ip: dict[str, list[str]],
    min_victims: int,
) -> tuple[str, float] | None:
    """What makes community ``c`` one crew, and how strongly; None when nothing does.

    Pooling the keys of several victims (as a reseller does) or running a published tool is a
    strong tie. One operator with one victim's keys is a crew too when the keys are stolen (leaked
    or alerted) and the community first used them after that: the owner's own addresses used them
    before. Its confidence grows with each independent sign: a key check, its own client
    fingerprint, an alert naming its address."""
    nkeys, nvictims, _ = parts.counts.get(c, (0, 0, 0))
    if nvictims >= min_victims:
        return f"pools {nkeys} stolen key(s) of {nvictims} victims", 0.9
    if tools:
        return f"runs published tooling ({', '.join(r.name for r in tools)})", 0.9
    stolen = parts.stolen.get(c, 0)
    if not stolen:
        return None
    ips = parts.ips.get(c, [])
    signs = [
        ("a key checker", any(m.infra_role == "checker" for m in ips)),
        ("its own client fingerprint", any(v == c for v in ua_crew.values())),
        ("alerts naming its addresses", any(m.entity in alerts_by_ip for m in ips)),
    ]
    seen = [name for name, ok in signs if ok]
    return (
        f"one operator: {stolen} key(s) of one victim, first used after the theft, from "
        f"{len(ips) + len(parts.pools.get(c, []))} address(es) the owner never used"
        + (f"; with {', '.join(seen)}" if seen else ""),
        min(0.8, 0.5 + 0.1 * len(seen)),
    )


def _shared_evidence(crews: list[CrewResult]) -> list[CrewResult]:
    """Say, on each shared address, which other crews sent through it (a VPN exit, Tor, a NAT)."""
    where: dict[str, list[str]] = defaultdict(list)
    for c in crews:
        for m in c.members:
            if m.kind == "ip" and m.infra_role == "shared":
                where[m.entity].append(c.id)
    if not where:
        return crews
    out = []
    for c in crews:
        members = tuple(
            replace(
                m,
                evidence=f"{m.evidence}; shared with {', '.join(x for x in where[m.entity] if x != c.id)} "
                "(an exit several crews send through, not this crew's own host)",
            )
            if m.kind == "ip" and m.infra_role == "shared" and len(where[m.entity]) > 1
            else m
            for m in c.members
        )
        out.append(replace(c, members=members))
    return out


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime(roles.ISO)


def to_json(con: duckdb.DuckDBPyConnection, result: Result) -> dict[str, Any]:
    """The attribution as one JSON document (``attribute --format json``), read back from the
    tables it was written to, so the document and the workspace always agree."""

    def rows(q: str) -> list[dict[str, Any]]:
        rel = con.sql(q)
        names = rel.columns
        return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]

    ts = "strftime({}, '%Y-%m-%dT%H:%M:%SZ')"
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(
        f"SELECT * EXCLUDE (first_seen, last_seen), {ts.format('first_seen')} AS first_seen, "
        f"{ts.format('last_seen')} AS last_seen FROM crew_members ORDER BY crew_id, role, kind, entity"
    ):
        members[r.pop("crew_id")].append(r)
    edges: dict[str, dict[str, int]] = defaultdict(dict)
    for crew_id, kind, n in con.execute(
        "SELECT crew_id, kind, count(*) FROM crew_edges GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        edges[crew_id][kind] = n
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
                "first_time": _iso(c.crew.first_time),
                "last_time": _iso(c.crew.last_time),
                "summary": c.crew.summary,
                "confidence": c.crew.confidence,
                "ties": c.crew.ties,
                "edge_counts": edges.get(c.id, {}),
                "members": members.get(c.id, []),
                "keys": keys.get(c.id, []),
                "timeline": timeline.get(c.id, []),
            }
            for c in result.crews
        ],
    }
