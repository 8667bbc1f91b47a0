"""Step 4 of attribution: who plays which role in each community, with the evidence for it.

Why apart from the graph: roles are read from the clustered abuse events (TEMP view ``abuse_c``
and table ``key_crew``, left by :func:`ringbreaker.attribute.graph.cluster`) and from the indexed
public repositories, never from the graph; each rule here names what it saw in ``evidence``.
Addresses and control-plane accounts provide the infrastructure; tool fingerprints (user agents
customers never send) and the repositories whose code holds them are the creators'; end users
are counted here and written by SQL (:mod:`ringbreaker.attribute.store`).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import duckdb

from ringbreaker.attribute.code import Repo
from ringbreaker.attribute.graph import net24
from ringbreaker.model import VERDICT_SEVERITIES, Crew, CrewMember, Role, Severity

MAX_EVIDENCE = 10  # event ids kept per member; per timeline step and end user: EVIDENCE_STEP
EVIDENCE_STEP = 5
# Verdict severities that make a prompt count against a crew (end users' evidence, the timeline), as SQL.
RATED_BAD = ", ".join(f"'{s}'" for s in VERDICT_SEVERITIES if s.at_least(Severity.HIGH))
ISO = "%Y-%m-%dT%H:%M:%SZ"  # how the crews' times are printed (attribute --format json, the table)


Member = CrewMember  # the name attribute used before model.CrewMember; old imports keep working


@dataclass(frozen=True, slots=True)
class CrewResult:
    """One crew as found: its ``crews`` row and its named members (infrastructure, tools, people).
    Its end users, stolen keys and timeline (possibly hundreds of thousands of rows) go straight
    from SQL to the workspace tables and are counted here. ``keys`` and ``timeline`` are filled
    only for the ``unattributed`` case, which is built in Python."""

    crew: Crew
    members: tuple[CrewMember, ...]
    keys: tuple[dict[str, Any], ...] = ()
    timeline: tuple[dict[str, Any], ...] = ()
    community: int | None = None  # Leiden community; None for the ``unattributed`` case
    key_count: int = 0
    victim_count: int = 0
    user_count: int = 0

    @property
    def id(self) -> str:
        """The crew's id (``crew.id``), as callers read it before the row was a ``Crew``."""
        return self.crew.id

    @property
    def name(self) -> str:
        """The crew's name (``crew.name``)."""
        return self.crew.name


def _time(text: str | None) -> datetime | None:
    """DuckDB's ``strftime(..., '%Y-%m-%dT%H:%M:%SZ')`` text as the aware time ``Crew`` holds."""
    # fromisoformat, not strptime: the same time, 10x cheaper (200k members on a 10M-event run).
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _member(
    kind: str, entity: str, role: Role, confidence: float, evidence: str, commits: list[Any], cap: int = 0
) -> CrewMember:
    """A member named by commits, before its crew is named (``crew_id`` empty): :func:`crew` sets
    the id once the crew's members are all known, since the id is a hash of them. It was seen from
    its first commit to its last."""
    times = sorted(datetime.fromisoformat(c.time).astimezone(UTC) for c in commits if c.time)
    return CrewMember(
        "",
        kind,
        entity,
        role,
        confidence,
        evidence,
        tuple(f"commit:{c.sha}" for c in commits)[: cap or None],
        times[0] if times else None,
        times[-1] if times else None,
    )


def _hid(*parts: str, n: int = 12) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


def ua_in_code(ua: str, text: str) -> bool:
    """Whether ``text`` (code) holds the user agent ``ua`` as a quoted literal."""
    return len(ua) >= 6 and (f'"{ua}"' in text or f"'{ua}'" in text or f"`{ua}`" in text)


@dataclass
class Parts:
    """Per-crew rows of the small grouped queries, keyed by community number. Keys, end users and
    the timeline can be hundreds of thousands of rows: they go from SQL to the tables directly
    (see :func:`ringbreaker.attribute.store.write`), and only their counts come back here."""

    ips: dict[int, list[CrewMember]] = field(default_factory=lambda: defaultdict(list))
    accounts: dict[int, list[CrewMember]] = field(default_factory=lambda: defaultdict(list))
    uas: dict[int, dict[str, tuple[int, list[str], str, str]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    counts: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # keys, victims, end users
    span: dict[int, tuple[str, str]] = field(default_factory=dict)
    events: int = 0  # abuse events in all
    merged: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # masked /24s
    pools: dict[int, list[tuple[str, int, str, str]]] = field(default_factory=lambda: defaultdict(list))
    stolen: dict[int, int] = field(default_factory=dict)  # keys taken after their theft (leak or alert)
    common: set[str] = field(default_factory=set)  # user agents someone outside the abuse sends


# End users: each joins the crew that carried most of its requests (evidence: its first requests,
# and how many of its prompts classify rated high or critical).
_END_USERS = f"""
SELECT end_user, arg_max(crew, n) AS crew, sum(n) AS n, arg_max(ids, n) AS ids, sum(bad) AS bad,
       min(lo) AS lo, max(hi) AS hi
FROM (SELECT a.end_user, a.crew, count(*) AS n, arg_min(a.id, a.time, {EVIDENCE_STEP}) AS ids,
             count(v.event_id) FILTER (WHERE v.severity IN ({RATED_BAD})) AS bad,
             min(a.time) AS lo, max(a.time) AS hi
      FROM abuse_c a LEFT JOIN verdicts v ON v.event_id = a.id
      WHERE a.end_user IS NOT NULL GROUP BY a.end_user, a.crew)
GROUP BY end_user
"""


def infra_role(n: int, checks: int, control: int) -> str:
    """What an address did for its crew, from the steps its events were (stages.STAGE_SQL):
    control-plane when changing the victim's setup (model enablement, logging or guardrails,
    Azure management) is at least as much as its model calls, checker when most of its events test
    keys, egress (the proxy's outbound address) otherwise."""
    if control and control >= n - checks - control:
        return "control-plane"
    if checks * 2 >= n:
        return "checker"
    return "egress"


def gather(con: duckdb.DuckDBPyConnection, alerts_by_ip: dict[str, list[str]]) -> Parts:
    """The per-community members and counts, from a handful of grouped scans of ``abuse_c``."""
    p = Parts()
    n_ev = MAX_EVIDENCE
    shared = {n for (n,) in con.execute("SELECT node FROM shared_node").fetchall()}
    for c, node, rep, n, nkeys, nvictims, ids, lo, hi, checks, control in con.sql(
        "SELECT a.crew, a.node, any_value(g.rep), sum(a.n)::BIGINT, count(DISTINCT a.key_fp), "
        f"count(DISTINCT a.victim), list(a.first_id ORDER BY a.lo)[1:{n_ev}], "
        f"strftime(min(a.lo), '{ISO}'), strftime(max(a.hi), '{ISO}'), sum(a.checks)::BIGINT, "
        "sum(a.control)::BIGINT FROM g_nkc a JOIN g_alias g USING (node) "
        "GROUP BY a.crew, a.node ORDER BY 1, 2"
    ).fetchall():
        p.events += n
        span = p.span.get(c)
        p.span[c] = (min(span[0], lo), max(span[1], hi)) if span else (lo, hi)
        if node.endswith("/24"):
            p.merged[c].add(node)
            continue  # a masked /24 is evidence for the crew's addresses in it, not a member itself
        if rep.startswith("pool:"):
            p.pools[c].append((node, n, lo, hi))
            continue  # summarised as one proxy_pool member (see pool_member)
        alert_ids = alerts_by_ip.get(node, [])
        role = "shared" if node in shared else infra_role(n, checks, control)
        p.ips[c].append(
            CrewMember(
                "",
                "ip",
                node,
                Role.PROVIDER,
                min(1.0, 0.5 + 0.1 * nkeys + 0.1 * nvictims + (0.2 if alert_ids else 0))
                if role != "shared"
                else 0.5,
                f"{role}: sent {n:,} requests with {nkeys} stolen key(s) of {nvictims} victim(s)"
                + (f"; named by {len(alert_ids)} alert(s)" if alert_ids else "")
                + ("" if alert_ids or node in shared else "; found through the stolen keys it used"),
                tuple((alert_ids + list(ids))[:n_ev]),
                _time(lo),
                _time(hi),
                role,
            )
        )
    for c, members in p.ips.items():
        p.ips[c] = [
            replace(
                m, evidence=f"{m.evidence}; masked Azure callers from {net} resolved to this address's /24"
            )
            if (net := net24(m.entity)) in p.merged[c]
            else m
            for m in members
        ]
    for c, actor, ids, ops, lo, hi in con.sql(
        f"SELECT crew, principal, list(first_id ORDER BY lo)[1:{n_ev}], "
        "list(DISTINCT control_op ORDER BY control_op), "
        f"strftime(min(lo), '{ISO}'), strftime(max(hi), '{ISO}') FROM g_nkc "
        "WHERE principal IS NOT NULL GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        p.accounts[c].append(
            CrewMember(
                "",
                "account",
                actor,
                Role.PROVIDER,
                0.8,
                f"signed in from crew addresses for control-plane changes: {', '.join(ops)}",
                tuple(ids),
                _time(lo),
                _time(hi),
            )
        )
    p.common = {ua for (ua,) in con.execute("SELECT user_agent FROM common_ua").fetchall()}
    for c, ua, n, ids, lo, hi in con.sql(
        f"SELECT crew, user_agent, sum(n)::BIGINT, list(first_id ORDER BY lo)[1:{EVIDENCE_STEP}], "
        f"strftime(min(lo), '{ISO}'), strftime(max(hi), '{ISO}') "
        "FROM g_nkc WHERE user_agent IS NOT NULL GROUP BY ALL"
    ).fetchall():
        p.uas[c][ua] = (n, list(ids), lo, hi)
    for c, nkeys, nvictims in con.sql(
        "SELECT crew, count(DISTINCT key_fp), count(DISTINCT victim) FROM "
        "(SELECT DISTINCT crew, key_fp, victim FROM g_nkc "
        "JOIN key_crew USING (key_fp, crew)) GROUP BY crew"
    ).fetchall():
        p.counts[c] = (nkeys, nvictims, 0)
    # Keys a crew first used at or after they were stolen: not the owner's own traffic, however
    # few victims the crew has (one operator with one leaked key is still a crew).
    for c, stolen in con.sql(
        "SELECT a.crew, count(DISTINCT a.key_fp) FROM g_nkc a JOIN key_crew USING (key_fp, crew) "
        "JOIN stolen_key s ON s.fp = a.key_fp GROUP BY a.crew, a.key_fp, s.since "
        "HAVING min(a.lo) >= s.since"
    ).fetchall():
        p.stolen[c] = p.stolen.get(c, 0) + stolen
    # End users once, into a small table that store.write inserts from (one scan of the abuse events).
    con.execute(f"CREATE OR REPLACE TEMP TABLE crew_end_users AS {_END_USERS}")
    for c, users in con.sql("SELECT crew, count(*) FROM crew_end_users GROUP BY crew").fetchall():
        k, v, _ = p.counts.get(c, (0, 0, 0))
        p.counts[c] = (k, v, users)
    return p


def pool_member(addresses: list[tuple[str, int, str, str]]) -> CrewMember:
    """A crew's proxy-pool exits as one member: how many, in which networks, the busiest ones.

    Thousands of residential addresses that each carried a few requests are not the crew's own
    hosts (a takedown goes to the proxy service, not to each home), so they are summarised here and
    listed one by one only as ``pool-address`` edges."""
    nets = Counter(net24(a) or a for a, _, _, _ in addresses)
    top = sorted(addresses, key=lambda x: (-x[1], x[0]))[:5]
    total = sum(n for _, n, _, _ in addresses)
    return CrewMember(
        "",
        "proxy_pool",
        "proxy-pool",
        Role.PROVIDER,
        0.7,
        f"proxy pool: {len(addresses):,} exit addresses in {len(nets):,} /24 networks carried {total:,} "
        "requests, each only a few, all with the crew's keys; busiest networks: "
        + ", ".join(f"{net} ({k})" for net, k in nets.most_common(3))
        + "; busiest addresses: "
        + ", ".join(f"{a} ({n})" for a, n, _, _ in top),
        tuple(f"ip:{a}" for a, _, _, _ in top),
        _time(min(lo for _, _, lo, _ in addresses)),
        _time(max(hi for _, _, _, hi in addresses)),
        "proxy-pool",
    )


def tool_crews(parts: Parts, repos: list[Repo]) -> tuple[dict[str, int], dict[str, int]]:
    """Tool fingerprints and published tools, each with the community it belongs to.

    A tool fingerprint is a user agent the crew's addresses send and no address outside the
    abuse does (``common_ua``, left by the graph step); each
    joins the crew that sent most of its requests. A repository joins the crew most of whose
    fingerprints its code hard-codes.
    """
    by_ua: dict[str, Counter[int]] = defaultdict(Counter)
    for c, per_ua in parts.uas.items():
        for ua, (n, *_) in per_ua.items():
            by_ua[ua][c] += n
    ua_crew = {ua: votes.most_common(1)[0][0] for ua, votes in by_ua.items() if ua not in parts.common}
    repo_crew: dict[str, int] = {}
    for repo in repos:
        text = repo.added_text()
        votes = Counter(c for ua, c in ua_crew.items() if ua_in_code(ua, text))
        if votes:
            repo_crew[repo.name] = votes.most_common(1)[0][0]
    return ua_crew, repo_crew


def crew(
    c: int, parts: Parts, tools: list[Repo], ua_crew: dict[str, int], ties: str = "", confidence: float = 0.9
) -> CrewResult:
    """Community ``c`` as a crew: its named members with their roles, a stable id, name and summary;
    ``ties`` and ``confidence`` say what makes it one crew (decided by the caller)."""
    members: list[CrewMember] = [*parts.ips.get(c, []), *parts.accounts.get(c, [])]
    pool = parts.pools.get(c, [])
    if pool:
        members.append(pool_member(pool))
    code_text = "\n".join(r.added_text() for r in tools)
    for ua, (n, ids, ua_lo, ua_hi) in sorted(parts.uas.get(c, {}).items()):
        if ua_crew.get(ua) != c:
            continue
        repo_names = [r.name for r in tools if ua_in_code(ua, r.added_text())]
        members.append(
            CrewMember(
                "",
                "tool",
                ua,
                Role.CREATOR,
                0.95 if ua_in_code(ua, code_text) else 0.6,
                f"client fingerprint of {n:,} crew requests, never sent by customers"
                + (f"; hard-coded in {', '.join(repo_names)}" if repo_names else ""),
                (*(f"repo:{r}" for r in repo_names), *ids),
                _time(ua_lo),
                _time(ua_hi),
            )
        )
    for repo in tools:
        members.extend(_repo_members(repo))
    nkeys, nvictims, nusers = parts.counts.get(c, (0, 0, 0))
    own = sorted(m.entity for m in members if m.kind == "ip" and m.infra_role != "shared")
    nodes = own + sorted(a for a, *_ in pool) or sorted(parts.merged.get(c, set()))
    cid = "crew-" + _hid(*(nodes + sorted(r.name for r in tools)), n=8)
    name = tools[0].name if tools else (own[0] if own else cid)
    roles = Counter(m.role for m in members)
    summary = (
        f"{nkeys} stolen key(s) of {nvictims} victim(s); {roles[Role.CREATOR]} creator, "
        f"{roles[Role.PROVIDER]} provider and {roles[Role.USER] + nusers} user entities"
        + (f"; a proxy pool of {len(pool):,} exit addresses" if pool else "")
    )
    lo, hi = parts.span.get(c, (None, None))
    return CrewResult(
        Crew(cid, name, _time(lo), _time(hi), summary, round(confidence, 3), ties or None),
        tuple(replace(m, crew_id=cid) for m in members),
        community=c,
        key_count=nkeys,
        victim_count=nvictims,
        user_count=nusers,
    )


def _repo_members(repo: Repo) -> list[CrewMember]:
    """The published tool, its authors (code: creator; deployment config: provider) and hosts."""
    first = repo.commits[0] if repo.commits else None
    out = [
        _member(
            "tool",
            repo.name,
            Role.CREATOR,
            0.9,
            f"published tooling ({repo.path}) whose code sends the crew's client fingerprint",
            repo.commits,
            MAX_EVIDENCE,
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
                Role.CREATOR,
                f"authored {len(what['code'])} code commit(s) of {repo.name}",
                what["code"],
            )
            conf = 0.9 if first is not None and first.author == name else 0.8
        else:
            role, why, commits = (
                Role.PROVIDER,
                f"committed the deployment config of {repo.name}",
                what["deploy"],
            )
            conf = 0.8
        out.append(_member("person", name, role, conf, why, commits))
        for host in sorted(set(what["hosts"])):
            out.append(
                _member(
                    "proxy_host",
                    host,
                    Role.PROVIDER,
                    0.8,
                    f"public host of the {repo.name} deployment committed by {name}",
                    what["deploy"],
                )
            )
    return out


def unattributed(
    con: duckdb.DuckDBPyConnection, levels: list[str], kept: list[int] | None = None
) -> CrewResult | None:
    """Keys that alerts call compromised but no crew's infrastructure used (an admin key whose
    audit log records no address, say): kept in a case of their own, so every stolen key is in
    exactly one case and none is silently dropped.

    ``kept``: the communities that became crews; their keys (TEMP ``key_crew``) are placed. The
    exclusion is a join in SQL: 10M events give 572k placed keys, which as a Python list parameter
    cost more than the query itself.
    """
    placed = (
        "AND k.fp NOT IN (SELECT key_fp FROM key_crew WHERE crew IN (SELECT unnest(?::INTEGER[])))"
        if kept is not None
        else ""
    )
    rows = con.execute(
        f"""
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
        WHERE k.fp IS NOT NULL {placed}
        GROUP BY k.fp, f.provider, f.preview, f.leak_time, f.loc ORDER BY 6
        """,
        [levels, kept] if kept is not None else [levels],
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
    crew = Crew(
        "unattributed",
        "Compromised keys not tied to a crew",
        _time(rows[0][5]),
        _time(max(r[5] for r in rows)),
        f"{len(keys)} key(s) alerted as compromised whose use left no address, tool or end user to follow",
    )
    return CrewResult(crew, (), tuple(keys), tuple(timeline))
