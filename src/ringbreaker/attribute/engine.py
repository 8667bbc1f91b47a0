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
    found = bool((ips or nets) and graph.abuse_view(con, ips, nets, levels))
    if ips or nets:
        owners = graph.one_row(con, "SELECT count(*) FROM owner_seed")[0]
        if owners:
            result.notes.append(
                f"{owners} alerted address(es) are the stolen keys' owners, not a crew: they used a leaked "
                "key before it leaked, or go on using it from the owner's network with the owner's client"
            )
    if not found:
        result.notes.append(
            f"no events from addresses named by {cfg.min_severity}+ alerts: run detect first"
            if not alerts_by_ip
            else "alerts name addresses, but no events came from them"
        )
        orphan = roles.unattributed(con, levels)
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
    kept = [c.community for c in crews if c.community is not None]
    orphan = roles.unattributed(con, levels, kept)
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


CREW_ORDER = "id = 'unattributed', first_time IS NOT NULL, first_time, id"  # read_crews' order


def read_crews(
    con: duckdb.DuckDBPyConnection, crew_id: str | None = None, *, ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every crew (or one, or those in ``ids``: a page a reader chose in SQL with ``CREW_ORDER``) as
    ``attribute --format json`` prints ``crews[]``, read from the tables: crews without a time first,
    then by first activity, ``unattributed`` last. For readers of a workspace that did not run this
    attribution (``serve``); a workspace from before a column was added gives the columns it has."""
    have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "crews" not in have:
        return []
    ts = "strftime(timezone('UTC', {0}), '%Y-%m-%dT%H:%M:%SZ') AS {0}"  # UTC whatever the session's zone
    chosen = ids if ids is not None else ([crew_id] if crew_id else None)
    params: list[Any] = [chosen] if chosen is not None else []
    where = "WHERE list_contains(?, crew_id)" if chosen is not None else ""

    def rows(
        table: str, times: tuple[str, ...], order: str, key: str = "crew_id"
    ) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if table not in have:
            return out
        cols = {r[0] for r in con.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()}
        present = [t for t in times if t in cols]
        sel = (
            f"* EXCLUDE ({', '.join(present)}), " + ", ".join(ts.format(t) for t in present)
            if present
            else "*"
        )
        cond = f"WHERE list_contains(?, {key})" if chosen is not None else ""
        rel = con.execute(f"SELECT {sel} FROM {table} {cond} ORDER BY {order}", params)
        names = [d[0] for d in rel.description]
        for r in rel.fetchall():
            row = dict(zip(names, r, strict=True))
            out[row[key] if key == "id" else row.pop(key)].append(row)
        return out

    members = rows("crew_members", ("first_seen", "last_seen"), "crew_id, role, kind, entity")
    keys = rows("crew_keys", ("leak_time", "first_abuse"), "crew_id, first_abuse, key_fingerprint")
    timeline = rows("timeline", ("time",), "crew_id, time, stage")
    edges: dict[str, dict[str, int]] = defaultdict(dict)
    if "crew_edges" in have:
        for cid, kind, n in con.execute(
            f"SELECT crew_id, kind, count(*) FROM crew_edges {where} GROUP BY ALL ORDER BY ALL", params
        ).fetchall():
            edges[cid][kind] = n
    found = rows("crews", ("first_time", "last_time"), CREW_ORDER, "id")
    return [
        {
            **{k: c[k] for k in ("id", "name", "first_time", "last_time", "summary")},
            "confidence": c.get("confidence"),
            "ties": c.get("ties"),
            "edge_counts": edges.get(cid, {}),
            "members": members.get(cid, []),
            "keys": keys.get(cid, []),
            "timeline": timeline.get(cid, []),
        }
        for cid, group in found.items()
        for c in group
    ]


def to_json(con: duckdb.DuckDBPyConnection, result: Result) -> dict[str, Any]:
    """The attribution as one JSON document (``attribute --format json``), read back from the
    tables it was written to, so the document and the workspace always agree."""
    return {
        "seeds": result.seeds,
        "abuse_events": result.abuse_events,
        "nodes": result.nodes,
        "edges": result.edges,
        "notes": result.notes,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "crews": read_crews(con),
    }
