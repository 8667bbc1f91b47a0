"""Steps 1-3 of attribution: the seed addresses, the events they sent, and their communities.

Why a module of its own: this is the only part that builds the graph (SQL for the address--key
projection, igraph's Leiden for the communities); what it leaves behind for the later steps is
TEMP tables and views on the connection (``seed_ip``, ``abuse``, ``abuse_c``, ``key_crew``), so
roles and the store read the clustering through SQL and never see the graph itself.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from ringbreaker.attribute.stages import STAGE_SQL

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


def abuse_view(con: duckdb.DuckDBPyConnection, ips: set[str], nets: set[str]) -> bool:
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
    return bool(one_row(con, "SELECT count(*) FROM (SELECT 1 FROM abuse LIMIT 1)")[0])


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


_IPV4 = r"'^(\d+\.\d+\.\d+)\.\d+$'"


HUB_USERS = 1000  # a key or principal used from more addresses than this links nothing (a hub)


def cluster(con: duckdb.DuckDBPyConnection, resolution: float, seed: int) -> tuple[int, int]:
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
    n = int(one_row(con, "SELECT count(*) FROM g_nodes")[0])
    membership = leiden(n, e["s"].to_pylist(), e["d"].to_pylist(), e["w"].to_pylist(), resolution, seed)
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
    uses = int(one_row(con, "SELECT count(*) FROM g_use")[0])
    return n + int(one_row(con, "SELECT count(DISTINCT item) FROM g_use")[0]), uses + e.num_rows
