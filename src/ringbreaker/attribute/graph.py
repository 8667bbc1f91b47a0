"""Steps 1-3 of attribution: the seed addresses, the events they sent, and their communities.

Why a module of its own: this is the only part that builds the graph (SQL for the address--key
projection, igraph's Leiden for the communities); what it leaves behind for the later steps is
TEMP tables and views on the connection (``seed_ip``, ``abuse``, ``abuse_c``, ``key_crew``), so
roles and the store read the clustering through SQL and never see the graph itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb

from ringbreaker.attribute.stages import STAGE_SQL

_IPV4 = r"'^(\d+\.\d+\.\d+)\.\d+$'"  # SQL: an IPv4 address, its /24 as group 1
_MASKED = re.compile(r"^(\d+\.\d+\.\d+)\.\*+$")  # Azure diagnostics: 203.0.113.***


def net24(ip: str) -> str | None:
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


def one_row(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row of ``query`` (fetched whole: DuckDB 2 refuses new work while a result is open)."""
    rows = con.execute(query, params or []).fetchall()
    return tuple(rows[0]) if rows else ()


def seeds(
    con: duckdb.DuckDBPyConnection, levels: list[str]
) -> tuple[set[str], set[str], dict[str, list[str]]]:
    """Seed addresses, seed /24s and, per address, the alerts (of severity in ``levels``) that name it."""
    rows = con.execute(
        "SELECT ip, list(id ORDER BY id) FROM (SELECT id, unnest(src_ips) AS ip FROM alerts "
        "WHERE severity IN (SELECT unnest(?))) WHERE ip IS NOT NULL AND ip <> '' GROUP BY ip",
        [levels],
    ).fetchall()
    ips, nets, by_ip = set(), set(), {}
    for ip, alert_ids in rows:
        by_ip[ip] = list(alert_ids)
        if _masked(ip):
            net = net24(ip)
            if net:
                nets.add(net)
        else:
            ips.add(ip)
            net = net24(ip)
            if net:
                nets.add(net)
    return ips, nets, by_ip


def abuse_view(con: duckdb.DuckDBPyConnection, ips: set[str], nets: set[str], levels: list[str]) -> bool:
    """TEMP view ``abuse``: the events the seeds sent, and those of the addresses the crews used
    beside them (which used no key but the crews'), with the node they hang on and their key;
    whether there is any.

    The seeds are only the addresses an alert named. A crew that rotates its egress by day, or
    probes from a checker no alert named, leaves the rest of its infrastructure in the logs of the
    keys it stole, so every address that used a stolen key after it was stolen joins (see
    :func:`expansion`). The count comes later, from a query that scans the events anyway.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE seed_ip AS SELECT unnest(?::VARCHAR[]) AS ip", [sorted(ips)])
    con.execute("CREATE OR REPLACE TEMP TABLE seed_net AS SELECT unnest(?::VARCHAR[]) AS net", [sorted(nets)])
    # Leaked keys by the resource their leak names (Azure logs name the resource, not the key).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE key_by_resource AS SELECT resource, min(fingerprint) AS fingerprint "
        "FROM findings WHERE resource IS NOT NULL GROUP BY resource"
    )
    expansion(con, levels)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE crew_ip AS SELECT ip FROM seed_ip UNION SELECT ip FROM expand_ip"
    )
    masked = r"'^(\d+\.\d+\.\d+)\.\*+$'"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW abuse AS
        WITH e AS (
            SELECT * FROM events
            WHERE (src_ip IN (SELECT ip FROM crew_ip)
                   OR (ends_with(src_ip, '*')  -- cheap test first: the regex runs on masked callers only
                       AND regexp_replace(src_ip, {masked}, '\\1.0/24') IN (SELECT net FROM seed_net)))
              AND (key_fingerprint IS NULL OR key_fingerprint IN (SELECT fp FROM crew_key))
        )
        SELECT e.id, e.time, e.provider, e.operation, e.actor, e.user_agent, e.tokens_in, e.tokens_out,
               e.end_user, e.source_format, e.src_anonymizer,
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
    return bool(one_row(con, "SELECT count(*) FROM (SELECT 1 FROM abuse LIMIT 1)")[0])


def expansion(con: duckdb.DuckDBPyConnection, levels: list[str]) -> None:
    """TEMP tables ``crew_key``, ``stolen_key`` (fp, since), ``expand_ip``: the crews' other addresses.

    A key is *stolen* when there is evidence of it beyond the seeds' use: a public leak (the
    earliest leak time is when theft became possible) or an alert at seed level that names it
    (its first evidence then), and a seed address used it. An address joins the crews'
    infrastructure when it used a stolen key after it was stolen, and no key but those the seeds
    used, from outside the owner's networks: the owner's addresses are those that used the key
    before it was stolen, any address in their /24, and any address that also used a key of the
    same owner that nobody stole. Where the key's first logged use is after its theft (the logs
    begin mid-attack), the owner's earlier use is not there to see, so the address must also send a
    client string that the seeds send and no address outside the abuse does. So an owner who goes on
    using a leaked key from the office or CI stays out, a VPN exit that customers share with a crew
    stays out (unless an alert named it), and the checker and the egress addresses of every day of
    a rotation come in.
    """
    # An alerted address that used a leaked key before it leaked is the owner's (a false alert on
    # the victim's office): it is no crew's.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE owner_seed AS
        SELECT DISTINCT e.src_ip AS ip FROM events e
        JOIN (SELECT fingerprint, min(leak_time) AS t FROM findings WHERE leak_time IS NOT NULL
              GROUP BY fingerprint) l ON l.fingerprint = e.key_fingerprint
        WHERE e.src_ip IN (SELECT ip FROM seed_ip) AND e.time < l.t
        """
    )
    con.execute("DELETE FROM seed_ip WHERE ip IN (SELECT ip FROM owner_seed)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE seed_key AS SELECT DISTINCT key_fingerprint AS fp FROM events "
        "WHERE src_ip IN (SELECT ip FROM seed_ip) AND key_fingerprint IS NOT NULL"
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stolen_key AS
        WITH leak AS (SELECT fingerprint AS fp, min(leak_time) AS t FROM findings
                      WHERE leak_time IS NOT NULL GROUP BY fingerprint),
        al AS (SELECT fp, min(first_time) AS t FROM
               (SELECT unnest(key_fingerprints) AS fp, first_time FROM alerts
                WHERE severity IN (SELECT unnest(?::VARCHAR[])))
               WHERE fp IS NOT NULL GROUP BY fp),
        ev AS (SELECT coalesce(leak.fp, al.fp) AS fp, coalesce(leak.t, al.t) AS since
               FROM leak FULL JOIN al ON al.fp = leak.fp)
        SELECT fp, since FROM ev WHERE fp IN (SELECT fp FROM seed_key)
        """,
        [levels],
    )
    # With --geoip: an address whose every use of stolen keys came from a network (ASN) and with a
    # client string the key's owner used it with before the theft goes on like its owner (the
    # owner's next CI runner, a new office line), not like a thief: it is no crew's.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE owner_like AS
        WITH pre AS (
            SELECT DISTINCT e.key_fingerprint AS fp, e.src_asn AS asn, e.user_agent AS ua
            FROM events e JOIN stolen_key s ON s.fp = e.key_fingerprint
            WHERE e.time < s.since AND e.src_asn IS NOT NULL AND e.user_agent IS NOT NULL
        ), post AS (
            SELECT e.src_ip AS ip, e.key_fingerprint AS fp, e.src_asn AS asn, e.user_agent AS ua
            FROM events e JOIN stolen_key s ON s.fp = e.key_fingerprint
            WHERE e.time >= s.since AND e.src_ip IS NOT NULL
        )
        SELECT post.ip FROM post LEFT JOIN pre USING (fp, asn, ua)
        GROUP BY post.ip HAVING bool_and(pre.fp IS NOT NULL)
        """
    )
    con.execute(
        "INSERT INTO owner_seed SELECT ip FROM owner_like "
        "WHERE ip IN (SELECT ip FROM seed_ip) AND ip NOT IN (SELECT ip FROM owner_seed)"
    )
    con.execute("DELETE FROM seed_ip WHERE ip IN (SELECT ip FROM owner_like)")
    # The crews' keys: the stolen ones, and those the seeds sent at least half the requests of. A
    # customer's own key that passed through an alerted VPN exit or CI runner is not one.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE crew_key AS
        SELECT fp FROM stolen_key
        UNION
        SELECT key_fingerprint FROM events
        WHERE key_fingerprint IN (SELECT fp FROM seed_key)
          AND key_fingerprint NOT IN (SELECT fp FROM stolen_key)
        GROUP BY key_fingerprint
        HAVING 2 * count(*) FILTER (WHERE src_ip IN (SELECT ip FROM seed_ip)) >= count(*)
        """
    )
    # Seeds that also carried customers' own keys: a VPN exit, NAT or CI runner, never a crew's own host.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE mixed_ip AS SELECT DISTINCT src_ip AS ip FROM events "
        "WHERE src_ip IN (SELECT ip FROM seed_ip) AND key_fingerprint IS NOT NULL "
        "AND key_fingerprint NOT IN (SELECT fp FROM crew_key)"
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE owner_ip AS
        WITH victim AS (
            SELECT DISTINCT account FROM events
            WHERE key_fingerprint IN (SELECT fp FROM stolen_key) AND account IS NOT NULL
        ), u AS (  -- uses of the victims' keys, and every key of an address that used a stolen one
            SELECT src_ip AS ip, key_fingerprint AS fp, any_value(account) AS account, min(time) AS first
            FROM events
            WHERE key_fingerprint IS NOT NULL AND src_ip IS NOT NULL AND NOT ends_with(src_ip, '*')
              AND (account IN (SELECT account FROM victim)
                   OR src_ip IN (SELECT DISTINCT src_ip FROM events
                                 WHERE key_fingerprint IN (SELECT fp FROM stolen_key)))
            GROUP BY src_ip, key_fingerprint
        ), logged AS (SELECT fp, min(first) AS first FROM u GROUP BY fp
        ), j AS (
            SELECT u.*, s.since, u.fp IN (SELECT fp FROM crew_key) AS crew,
                   s.fp IS NOT NULL AND u.first >= s.since AS after_theft,
                   s.since > l.first AS theft_logged  -- the owner's use before the theft is in the logs
            FROM u LEFT JOIN stolen_key s ON s.fp = u.fp LEFT JOIN logged l ON l.fp = u.fp
        )
        SELECT ip, bool_or(since IS NOT NULL AND NOT after_theft) AS before_theft,
               bool_or(NOT crew AND account IN (SELECT account FROM victim)) AS own_key,
               bool_or(after_theft) AS after_theft, bool_or(after_theft AND theft_logged) AS timed,
               bool_and(crew) AS crew_only
        FROM j GROUP BY ip
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE expand_cand AS
        WITH owner AS (SELECT ip FROM owner_ip WHERE before_theft OR own_key),
        owner_net AS (
            SELECT DISTINCT regexp_replace(ip, {_IPV4}, '\\1') AS net FROM owner
            WHERE regexp_matches(ip, {_IPV4})
        )
        SELECT ip, timed FROM owner_ip
        WHERE ip NOT IN (SELECT ip FROM seed_ip) AND NOT (before_theft OR own_key)
          AND ip NOT IN (SELECT ip FROM owner_like)
          AND regexp_replace(ip, {_IPV4}, '\\1') NOT IN (SELECT net FROM owner_net)
          AND after_theft AND crew_only
        """
    )
    # Where the logs begin after the theft, time cannot tell the owner from the thief: such an
    # address must also send a client string that the seeds send and no one else does.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE expand_ip AS
        WITH untimed AS (SELECT ip FROM expand_cand WHERE NOT timed),
        tool AS (
            SELECT DISTINCT user_agent FROM events WHERE src_ip IN (SELECT ip FROM seed_ip)
            EXCEPT
            SELECT DISTINCT user_agent FROM events
            WHERE src_ip NOT IN (SELECT ip FROM seed_ip) AND src_ip NOT IN (SELECT ip FROM expand_cand)
              AND (SELECT count(*) FROM untimed) > 0
        )
        SELECT ip FROM expand_cand WHERE timed
        UNION
        SELECT DISTINCT src_ip FROM events
        WHERE src_ip IN (SELECT ip FROM untimed) AND user_agent IN (SELECT user_agent FROM tool)
        """
    )


def leiden(
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


HUB_USERS = 1000  # a key or principal used from more addresses than this links nothing (a hub)
POOL_REQUESTS = 20  # an address that sent at most this many abuse events ...
POOL_ADDRESSES = 50  # ... all on keys that this many addresses used is a proxy-pool exit
TOOL_LINK = 0.25  # weight that tying two addresses by a tool fingerprint gives (a shared key: ~1)
ANONYMIZERS = ("tor", "anonymous-vpn", "proxy")  # events.src_anonymizer classes (ingest --geoip)


def cluster(con: duckdb.DuckDBPyConnection, resolution: float, seed: int) -> tuple[int, int]:
    """Cluster the crew addresses; leave TEMP TABLE ``abuse_c`` (abuse events + crew number).

    The graph is the addresses' projection of the address--key (and address--principal) usage
    graph: two addresses are linked by every key they both used, each shared key weighing
    1/(its number of addresses - 1), so that a key everyone uses links no one strongly. Keys are
    not nodes: a key used once would otherwise be cut off into a community of its own. Keys, like
    user agents and end users, then join the crew that sent most of their requests. A tool
    fingerprint (a user agent no address outside the abuse sends) also ties the addresses that
    send it, weakly (``TOOL_LINK``, as a star, so a tool on thousands of addresses stays cheap):
    it carries a crew across days whose keys changed with its egress.

    Entity resolution happens first, as a contraction: a masked /24 (Azure logs hide the last
    octet) that holds crew addresses becomes its busiest address, so the stolen Azure key seen only
    through the mask lands in the same crew. Were two crews to share a /24, its masked traffic
    would go to the busier one; the address's evidence says when a merge happened. Proxy-pool
    exits (addresses that each carried a few requests of keys that many addresses used, as
    residential proxies do) become one node per key, ``pool:<fingerprint>``, so a pool of
    thousands neither splits into thousands of crews nor needs a clique per key.

    Shared infrastructure (a VPN exit two crews both sent through, see :func:`shared_nodes`) is
    cut out of the graph before the communities are found, and each of its events goes to the crew
    of the key it used.
    """
    # One scan of the abuse events, grouped by address, key and client: everything up to the
    # members and the edges is read from this (the events are scanned again only for the timeline).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_nk AS
        SELECT node, key_fp, user_agent, victim,
               CASE WHEN source_format = 'azure-activity' THEN actor END AS principal,
               CASE WHEN source_format = 'azure-activity' THEN operation END AS control_op,
               count(*) AS n, count(*) FILTER (WHERE stage = 'key-check') AS checks,
               count(*) FILTER (WHERE stage IN ('model-enablement', 'guardrail-tampering')
                                OR source_format = 'azure-activity') AS control,
               bool_and(stage = 'abuse') AS calls_only, bool_or(src_anonymizer IN {ANONYMIZERS}) AS anon,
               any_value(provider) AS provider, sum(tokens_in) AS tin, sum(tokens_out) AS tout,
               min(time) AS lo, max(time) AS hi, arg_min(id, time) AS first_id
        FROM abuse GROUP BY node, key_fp, user_agent, victim, principal, control_op
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_alias AS
        WITH busy AS (SELECT node, sum(n) AS n, bool_and(calls_only) AS calls_only FROM g_nk
                      WHERE regexp_matches(node, {_IPV4}) GROUP BY node),
        users AS (SELECT key_fp, count(DISTINCT node) AS users FROM g_nk
                  WHERE key_fp IS NOT NULL GROUP BY key_fp),
        pool AS (
            SELECT b.node, 'pool:' || arg_max(u.key_fp, (u.users, u.key_fp)) AS rep
            FROM busy b JOIN (SELECT DISTINCT node, key_fp FROM g_nk) k USING (node)
            JOIN users u ON u.key_fp = k.key_fp
            WHERE b.n <= {POOL_REQUESTS} AND b.calls_only
            GROUP BY b.node HAVING min(u.users) >= {POOL_ADDRESSES}
        ),
        rep AS (SELECT regexp_replace(node, {_IPV4}, '\\1.0/24') AS net, arg_max(node, n) AS rep
                FROM busy WHERE node NOT IN (SELECT node FROM pool) GROUP BY net)
        SELECT m.node, coalesce(pool.rep, rep.rep, m.node) AS rep
        FROM (SELECT DISTINCT node FROM g_nk) m LEFT JOIN rep ON rep.net = m.node
        LEFT JOIN pool ON pool.node = m.node
        """
    )
    # Client strings that someone outside the abuse sends are not a crew's tool (roles reads it too).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE common_ua AS SELECT DISTINCT user_agent FROM events "
        "WHERE user_agent IN (SELECT DISTINCT user_agent FROM g_nk) "
        "AND src_ip NOT IN (SELECT node FROM g_alias) AND NOT contains(coalesce(src_ip, ''), '*')"
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE g_use_s AS
        SELECT DISTINCT g.rep AS ip, 'key:' || a.key_fp AS item
        FROM g_nk a JOIN g_alias g USING (node) WHERE a.key_fp IS NOT NULL
        UNION
        SELECT DISTINCT g.rep, 'principal:' || a.principal
        FROM g_nk a JOIN g_alias g USING (node) WHERE a.principal IS NOT NULL
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_nodes AS SELECT ip AS name, "
        "(row_number() OVER (ORDER BY ip) - 1)::INTEGER AS idx FROM (SELECT DISTINCT rep AS ip FROM g_alias)"
    )
    # Integers from here on: the pair self-join below is the biggest hash table of the run.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_items AS SELECT item AS name, "
        "(row_number() OVER (ORDER BY item))::INTEGER AS idx FROM (SELECT DISTINCT item FROM g_use_s)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_use AS SELECT n.idx AS ip, i.idx AS item FROM g_use_s u "
        "JOIN g_nodes n ON n.name = u.ip JOIN g_items i ON i.name = u.item"
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
        UNION ALL
        SELECT s, d, {TOOL_LINK} FROM (
            SELECT min(n.idx) OVER (PARTITION BY t.user_agent) AS s, n.idx AS d
            FROM (SELECT DISTINCT g.rep, a.user_agent FROM g_nk a JOIN g_alias g USING (node)
                  WHERE a.user_agent IS NOT NULL
                    AND a.user_agent NOT IN (SELECT user_agent FROM common_ua)) t
            JOIN g_nodes n ON n.name = t.rep)
        WHERE s < d
        """
    ).to_arrow_table()
    n = int(one_row(con, "SELECT count(*) FROM g_nodes")[0])
    import pyarrow as pa
    import pyarrow.compute as pc

    shared = shared_nodes(con, n)
    if shared:
        cut = pa.array(sorted(shared), pa.int64())
        e = e.filter(pc.invert(pc.or_(pc.is_in(e["s"], cut), pc.is_in(e["d"], cut))))
    edges = e.num_rows
    # The edge lists are Python objects (hundreds of MB at 10M events): built for Leiden and freed
    # before the next query, so DuckDB's working memory never stacks on top of them.
    membership = leiden(n, e["s"].to_pylist(), e["d"].to_pylist(), e["w"].to_pylist(), resolution, seed)
    del e
    _communities(con, membership, sorted(shared))
    uses = int(one_row(con, "SELECT count(*) FROM g_use")[0])
    return n + int(one_row(con, "SELECT count(DISTINCT item) FROM g_use")[0]), uses + edges


def shared_nodes(con: duckdb.DuckDBPyConnection, n: int) -> set[int]:
    """Graph nodes that are exits shared by unrelated crews, not a crew's own host.

    An alerted address that also carried customers' own keys (``mixed_ip``: a VPN exit, a NAT, a
    CI runner) is always shared. Otherwise a candidate is an address that sent two client strings
    or that ``ingest --geoip`` classed as Tor, VPN or public proxy. Without every candidate, the
    crews' own hosts split the stolen keys into groups; a candidate whose keys fall in two groups
    is shared (several VPN exits that two crews both use are found together, which one
    articulation point at a time would not). A crew's own egress that changed tools stays: its
    keys are all in its own crew's group. On most workspaces there is no candidate and no graph.
    """
    cand = {
        int(i): bool(mixed)
        for i, mixed in con.execute(
            """
            SELECT nd.idx, bool_or(a.node IN (SELECT ip FROM mixed_ip)) FROM g_nk a
            JOIN g_alias g USING (node) JOIN g_nodes nd ON nd.name = g.rep
            WHERE NOT starts_with(g.rep, 'pool:') AND a.key_fp IS NOT NULL GROUP BY nd.idx
            HAVING bool_or(a.node IN (SELECT ip FROM mixed_ip))
                OR (count(DISTINCT a.key_fp) >= 2 AND (count(DISTINCT a.user_agent) >= 2 OR bool_or(a.anon)))
            """
        ).fetchall()
    }
    if not cand:
        return set()
    import igraph as ig

    use = con.sql("SELECT ip, item FROM g_use").to_arrow_table()
    ips, items = use["ip"].to_pylist(), use["item"].to_pylist()
    g = ig.Graph(n=n + max(items, default=0) + 1, edges=[(a, n + b) for a, b in zip(ips, items, strict=True)])
    sub = g.copy()
    sub.delete_edges([e for x in cand for e in sub.incident(x)])
    comp = sub.connected_components().membership
    own = {comp[v] for v in range(n) if v not in cand}  # groups that hold a crew's own address
    shared = {x for x, mixed in cand.items() if mixed}
    for x in cand:
        groups = {comp[item] for item in g.neighbors(x)} & own
        if len(groups) >= 2:
            shared.add(x)
    return shared


def _communities(con: duckdb.DuckDBPyConnection, membership: list[int], shared: Sequence[int] = ()) -> None:
    """TEMP ``node_crew``, ``shared_node``, ``key_crew`` and the view ``abuse_c`` from a membership.

    A stolen key belongs to the crew whose own addresses sent most of its requests (one case per
    key); an event of a shared address goes to the crew of the key it used.
    """
    import pyarrow as pa

    comm_rows = pa.table({"idx": list(range(len(membership))), "crew": membership})  # noqa: F841 (read by DuckDB)
    shared_rows = pa.table({"idx": pa.array(list(shared), pa.int32())})  # noqa: F841
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_comm AS "
        "SELECT idx::INTEGER AS idx, crew::INTEGER AS crew FROM comm_rows"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE node_crew AS SELECT g.node, c.crew FROM g_alias g "
        "JOIN g_nodes n ON n.name = g.rep JOIN g_comm c ON c.idx = n.idx"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE shared_node AS SELECT g.node FROM g_alias g "
        "JOIN g_nodes n ON n.name = g.rep WHERE n.idx IN (SELECT idx FROM shared_rows)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE key_crew AS SELECT key_fp, arg_max(crew, (n, -crew)) AS crew FROM "
        "(SELECT a.key_fp, nc.crew, sum(a.n) AS n FROM g_nk a JOIN node_crew nc USING (node) "
        " WHERE a.key_fp IS NOT NULL AND a.node NOT IN (SELECT node FROM shared_node) GROUP BY ALL) "
        "GROUP BY key_fp"
    )
    # The crew of each row: a shared address's rows go to the crew of their key.
    share = (
        "CASE WHEN a.node IN (SELECT node FROM shared_node) THEN coalesce(kc.crew, nc.crew) ELSE nc.crew END"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE g_nkc AS SELECT a.*, {share} AS crew "
        "FROM g_nk a JOIN node_crew nc USING (node) LEFT JOIN key_crew kc USING (key_fp)"
    )
    con.execute("DROP TABLE g_nk")  # g_nkc holds it all: one copy of the biggest temp table
    # Views, not copies: the workspace's compressed columns are scanned again instead.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW abuse_c AS "
        + (
            f"SELECT a.*, {share} AS crew "
            "FROM abuse a JOIN node_crew nc USING (node) LEFT JOIN key_crew kc USING (key_fp)"
            if shared
            else "SELECT a.*, nc.crew FROM abuse a JOIN node_crew nc USING (node)"
        )
    )
