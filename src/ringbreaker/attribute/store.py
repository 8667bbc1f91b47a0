"""Step 5 of attribution: the tables ``crews``, ``crew_members``, ``crew_keys``, ``timeline`` and
``crew_edges``.

Why apart: writing is the one step with a transaction. Named members come from Python (through
Arrow); end users, stolen keys and the leak-to-abuse timeline (possibly hundreds of thousands of
rows) are inserted by SQL straight from the clustered abuse events, all in one transaction, so a
failed run leaves the previous attribution intact.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import duckdb

from ringbreaker.attribute.roles import EVIDENCE_STEP, RATED_BAD, CrewResult

# Stolen keys of the crews in crew_map, with their earliest leak.
_KEYS = """
WITH a AS (
    SELECT crew, key_fp, any_value(victim) AS victim, any_value(provider) AS provider,
           min(lo) AS first_abuse, sum(n)::BIGINT AS n, sum(tin)::BIGINT AS tin, sum(tout)::BIGINT AS tout
    FROM g_nkc JOIN key_crew USING (key_fp, crew) GROUP BY crew, key_fp
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

_WORDS = """CASE t.stage WHEN 'key-check' THEN 'checked the key' WHEN 'model-enablement' THEN 'enabled models'
    WHEN 'abuse' THEN 'used the key for model calls'
    WHEN 'guardrail-tampering' THEN 'weakened safety controls'
    ELSE t.stage END"""

# The timeline: each key's leak (from the crews' stolen keys), then per key and stage the first
# event, with counts and evidence, then the prompts rated bad. The per-step figures come from
# small TEMP tables (see _stage), grouped from one narrow copy of the abuse events.
#
# Evidence: the first EVIDENCE_STEP events by (time, id). arg_min(id, time, n) and min(time, n) are
# fixed-size states, the cheap way to a top n (a window over every abuse event, or arg_min keyed on
# a (time, id) struct, cost 2-50x as much); one more than needed is kept, so that a tie at the cut
# is seen and only those steps are ranked exactly (_TL_TIED), and equal times are put in id order.
_TL_STEPS = f"""
SELECT *, len(ks) > {EVIDENCE_STEP} AND ks[{EVIDENCE_STEP}] = ks[{EVIDENCE_STEP + 1}] AS tied
FROM (SELECT crew, key_fp, stage, min(time) AS first, count(*) AS n,
             arg_min(id, epoch_us(time), {EVIDENCE_STEP + 1}) AS ids,
             min(epoch_us(time), {EVIDENCE_STEP + 1}) AS ks
      FROM tl_ab GROUP BY crew, key_fp, stage)
"""
_TL_OPS = """
SELECT crew, key_fp, stage, list(operation ORDER BY operation)[:5] AS ops
FROM (SELECT DISTINCT crew, key_fp, stage, operation FROM tl_ab) GROUP BY crew, key_fp, stage
"""
_TL_TIED = f"""
SELECT crew, key_fp, stage, list(id ORDER BY time, id) AS ids
FROM (SELECT a.crew, a.key_fp, a.stage, a.id, a.time FROM tl_ab a
      SEMI JOIN tl_steps t
        ON t.crew = a.crew AND t.stage = a.stage AND t.key_fp IS NOT DISTINCT FROM a.key_fp
       AND t.tied
      QUALIFY row_number() OVER (PARTITION BY a.crew, a.key_fp, a.stage ORDER BY a.time, a.id)
              <= {EVIDENCE_STEP})
GROUP BY crew, key_fp, stage
"""
_TIMELINE = f"""
SELECT k.crew_id, k.leak_time, 'leak', k.key_fp,
       'key ' || coalesce(k.preview, left(k.key_fp, 12)) || ' published in ' || coalesce(k.loc, '?'),
       CASE WHEN k.fid IS NULL THEN [] ELSE [k.fid] END
FROM out_keys k
WHERE k.leak_time IS NOT NULL
UNION ALL
SELECT m.crew_id, t.first, t.stage, t.key_fp,
       {_WORDS} || ' with ' || coalesce('key ' || left(t.key_fp, 12), 'the victim''s resource') || ': '
       || format('{{:,}}', t.n) || ' event(s) (' || array_to_string(o.ops, ', ') || ')',
       coalesce(x.ids, [p[2] FOR p IN list_sort(list_zip(t.ks, t.ids))[:{EVIDENCE_STEP}]])
FROM tl_steps t
JOIN tl_ops o ON o.crew = t.crew AND o.stage = t.stage AND o.key_fp IS NOT DISTINCT FROM t.key_fp
LEFT JOIN tl_tied x ON x.crew = t.crew AND x.stage = t.stage AND x.key_fp IS NOT DISTINCT FROM t.key_fp
JOIN crew_map m ON m.crew = t.crew
UNION ALL
SELECT m.crew_id, t.first, 'prohibited-content', t.key_fp,
       format('{{:,}}', t.n) || ' prompt(s) rated ' || CASE WHEN t.critical THEN 'critical' ELSE 'high' END
       || ' by the prompt model',
       t.ids
FROM (SELECT a.crew, a.key_fp, min(a.time) AS first, count(*) AS n,
             arg_min(a.id, a.time, {EVIDENCE_STEP}) AS ids,
             max(v.severity = 'critical') AS critical
      FROM abuse_c a JOIN verdicts v ON v.event_id = a.id
      WHERE v.severity IN ({RATED_BAD}) GROUP BY a.crew, a.key_fp) t JOIN crew_map m ON m.crew = t.crew
"""


MEMBER_COLUMNS = (
    "crew_id, kind, entity, role, confidence, evidence, evidence_ids, first_seen, last_seen, infra_role"
)
EDGE_EVIDENCE = 3  # event ids per edge (the first of each address, key and client along it)

# The crews' graph: who used which stolen key, signed in as whom, sent which client string; a proxy
# pool's addresses; and, for a shared address, the other crews that sent through it. An address a
# pool folded is ``proxy_pool:proxy-pool`` on the crew's edges, and listed by a pool-address edge.
# The evidence line is one per kind (the count is the weight): there can be millions of edges.
# The rows the edges are grouped from: each address--key--client row with its crew's id and the
# edge end its address is (a pooled exit is the pool; a masked /24 a network).
_EDGE_ROWS = """
SELECT m.crew_id, a.node, a.key_fp, a.user_agent, a.principal, a.n, a.lo, a.hi, a.first_id,
       kc.crew IS NOT NULL AS own_key, starts_with(g.rep, 'pool:') AS pooled,
       CASE WHEN starts_with(g.rep, 'pool:') THEN 'proxy_pool:proxy-pool'
            WHEN ends_with(a.node, '/24') THEN 'net:' || a.node ELSE 'ip:' || a.node END AS src
FROM g_nkc a JOIN g_alias g USING (node) JOIN crew_map m ON m.crew = a.crew
LEFT JOIN key_crew kc ON kc.key_fp = a.key_fp AND kc.crew = a.crew
"""

_IDS = f"arg_min(first_id, lo, {EDGE_EVIDENCE})"  # a fixed-size state: list(... ORDER BY lo) sorts every row
_EDGES = f"""
SELECT crew_id, src, 'key:' || key_fp, 'used-key', sum(n), min(lo), max(hi),
       'requests with the stolen key', {_IDS}
FROM edge_rows WHERE own_key GROUP BY crew_id, src, key_fp
UNION ALL
SELECT crew_id, src, 'account:' || principal, 'signed-in', sum(n), min(lo), max(hi),
       'control-plane events as this principal', {_IDS}
FROM edge_rows WHERE principal IS NOT NULL GROUP BY crew_id, src, principal
UNION ALL
SELECT crew_id, src, 'tool:' || user_agent, 'sent-client', sum(n), min(lo), max(hi),
       'requests with this client string, which no address outside the abuse sent', {_IDS}
FROM edge_rows WHERE user_agent IS NOT NULL AND user_agent NOT IN (SELECT user_agent FROM common_ua)
GROUP BY crew_id, src, user_agent
UNION ALL
SELECT crew_id, 'proxy_pool:proxy-pool', 'ip:' || node, 'pool-address', sum(n), min(lo), max(hi),
       'requests through this exit of the pool', {_IDS}
FROM edge_rows WHERE pooled GROUP BY crew_id, node
UNION ALL
SELECT s1.crew_id, 'ip:' || s1.node, 'crew:' || s2.crew_id, 'shared-with', s2.n, s2.lo, s2.hi,
       'requests of the other crew through the same address', s2.ids
FROM edge_shared s1 JOIN edge_shared s2 ON s2.node = s1.node AND s2.crew_id <> s1.crew_id
"""
_SHARED_ROWS = f"""
SELECT crew_id, node, sum(n) AS n, min(lo) AS lo, max(hi) AS hi, {_IDS} AS ids
FROM edge_rows WHERE node IN (SELECT node FROM shared_node) GROUP BY ALL
"""


def _stage(con: duckdb.DuckDBPyConnection) -> None:
    """The SQL-built rows (stolen keys, edges, timeline) as TEMP tables, before the transaction.

    Why before: rows inserted inside a transaction are held by it until the commit and count
    against DuckDB's memory limit, so the timeline's grouped scan of the abuse events, run after the
    edges inside the transaction, spilled to disk (10M events: 2 s alone, 150 s in the transaction).
    Built first, the transaction only copies finished rows. The edges (2M rows at 10M events) are
    the exception: they are inserted straight from ``edge_rows`` inside the transaction, after the
    timeline is staged (a staged copy of them held ~0.5 GB while the timeline's top-n states ran,
    which then spilled; one copy fewer also saves the copy).
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE out_keys AS {_KEYS}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW edge_rows AS {_EDGE_ROWS}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE edge_shared AS {_SHARED_ROWS}")
    # The abuse events' columns the timeline reads, copied once: grouped on the view (a join over the
    # workspace's events) the top-n states spilled pathologically (10M events: 110 s against 2 s).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE tl_ab AS SELECT crew, key_fp, stage, operation, id, time FROM abuse_c"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE tl_steps AS {_TL_STEPS}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE tl_ops AS {_TL_OPS}")
    tied = con.execute("SELECT count(*) FROM tl_steps WHERE tied").fetchall()[0][0]
    # tl_ab ranked again only when a step has a tie at the cut.
    con.execute(f"CREATE OR REPLACE TEMP TABLE tl_tied AS {_TL_TIED}{'' if tied else ' LIMIT 0'}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE out_timeline AS {_TIMELINE}")
    for table in ("tl_steps", "tl_ops", "tl_tied", "tl_ab"):
        con.execute(f"DROP TABLE {table}")


def write(con: duckdb.DuckDBPyConnection, crews: list[CrewResult]) -> None:
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
            "lo": pa.array([c.crew.first_time for c in crews], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([c.crew.last_time for c in crews], pa.timestamp("us", tz="UTC")),
            "summary": pa.array([c.crew.summary for c in crews], s_),
            "confidence": pa.array([c.crew.confidence for c in crews], pa.float64()),
            "ties": pa.array([c.crew.ties for c in crews], s_),
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
                ("first_seen", m.first_seen),
                ("last_seen", m.last_seen),
                ("infra_role", m.infra_role),
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
            "first_seen": pa.array(cols["first_seen"], pa.timestamp("us", tz="UTC")),
            "last_seen": pa.array(cols["last_seen"], pa.timestamp("us", tz="UTC")),
            "infra_role": pa.array(cols["infra_role"], s_),
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
    if sql_parts:
        con.execute("CREATE OR REPLACE TEMP TABLE crew_map AS SELECT * FROM crew_map_rows")
        _stage(con)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("crew_edges", "timeline", "crew_keys", "crew_members", "crews"):
            con.execute(f"DELETE FROM {table}")
        con.execute("INSERT INTO crews SELECT id, name, lo, hi, summary, confidence, ties FROM crew_rows")
        con.execute(f"INSERT INTO crew_members ({MEMBER_COLUMNS}) SELECT {MEMBER_COLUMNS} FROM member_rows")
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
            con.execute(
                """
                INSERT INTO crew_members
                SELECT m.crew_id, 'end_user', u.end_user, 'user', CASE WHEN u.bad > 0 THEN 0.9 ELSE 0.75 END,
                       format('{:,}', u.n) || ' requests through the crew''s proxy'
                       || CASE WHEN u.bad > 0 THEN '; ' || u.bad || ' prompt(s) rated high or critical'
                               ELSE '' END,
                       u.ids, u.lo, u.hi, NULL
                FROM crew_end_users u JOIN crew_map m ON m.crew = u.crew
                """
            )
            con.execute(
                "INSERT INTO crew_keys SELECT crew_id, key_fp, victim, provider, preview, leak_time, loc, "
                "first_abuse, minutes, n, tin, tout FROM out_keys"
            )
            con.execute("INSERT INTO timeline SELECT * FROM out_timeline")
            con.execute(f"INSERT INTO crew_edges {_EDGES}")
        con.execute("COMMIT")
    except duckdb.Error:  # every failure of a statement above (InterruptException included)
        con.execute("ROLLBACK")
        raise
    con.execute("DROP VIEW IF EXISTS edge_rows")
    for table in ("out_keys", "out_timeline", "edge_shared", "g_nkc"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
