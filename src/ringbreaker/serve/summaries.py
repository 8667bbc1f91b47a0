"""Per-snapshot summaries: the aggregates behind key, crew and search pages, computed once per copy.

Why: a key page used to scan ``events`` for the key into a temporary table and aggregate it at
request time. On 10M events the busiest key has 1.3M events; that page took 2.4 to 4.8 s (EXPLAIN
ANALYZE: the scan itself is 60 ms, the rest is copying 1.3M rows of 15 columns and six aggregates
over them), a crew page 0.7 s (two scans of ``events`` for its addresses) and a search 0.5 s (three
ILIKE scans of ``events``). A snapshot never changes, so the server computes these aggregates once,
right after the copy (snapshot.index), into small tables of the snapshot (never of the workspace),
grouped by key, by address and by field value. A page then reads a few rows by equality.

The grouping keeps results identical to the request-time SQL (tests/serve/test_summaries.py compares
both on the demo workspace): a key's events are the same set (its fingerprint, or, for an Azure key,
the account its leak's resource names, counted once), counts and sums of disjoint groups add up, and
every ordering has a full tiebreak (the request-time SQL got the same ones).

``ready`` says whether a snapshot has them (a workspace opened directly, in tests, does not); the
readers in entities.py fall back to the request-time SQL then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

MARKER = "serve_summaries"  # written last: present means every summary table is complete
KEY_COLUMNS = (
    "id, time, operation, status, error_code, src_ip, src_org, src_asn, src_country, user_agent, model, "
    "tokens_in, tokens_out, account, provider"
)
VALUE_COLUMNS = ("src_ip", "actor", "user_agent", "end_user", "key_fingerprint")
PIVOT_COLUMNS = ("src_ip", "actor", "user_agent", "end_user")
PROBES = 50  # probes kept per key (the page shows the first 50 by time)
FLAGGED = 20  # flagged prompts kept per key
_TS = "'%Y-%m-%dT%H:%M:%SZ'"
_DAY = "strftime(timezone('UTC', date_trunc('day', time)), '%Y-%m-%d')"
SEVERITY_RANK = "CASE v.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END"
NETWORK_ORDER = (
    "events DESC, src_ip NULLS LAST, src_org NULLS LAST, src_asn NULLS LAST, src_country NULLS LAST"
)


def iso(col: str) -> str:
    """SQL for a TIMESTAMPTZ column as ISO 8601 UTC text."""
    return f"strftime(timezone('UTC', {col}), {_TS})"


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def ready(have: set[str]) -> bool:
    """True when the snapshot (whose table names are ``have``) carries complete summaries."""
    return MARKER in have


def key_events_sql(have: set[str]) -> str:
    """Every (key, event) pair a key page counts: the events naming the key's fingerprint, and for a
    key whose leak names a resource (Azure), the events on that account not already naming the key."""
    own = f"SELECT key_fingerprint AS fp, {KEY_COLUMNS} FROM events WHERE key_fingerprint IS NOT NULL"
    if "findings" not in have:
        return own
    cols = ", ".join(f"e.{c.strip()}" for c in KEY_COLUMNS.split(","))
    return (
        f"{own} UNION ALL SELECT m.fp, {cols} FROM events e JOIN "
        "(SELECT DISTINCT fingerprint AS fp, resource AS acct FROM findings "
        "WHERE resource IS NOT NULL AND resource <> '') m "
        "ON regexp_extract(lower(e.resource), '/accounts/([^/]+)$', 1) = m.acct "
        "WHERE e.key_fingerprint IS DISTINCT FROM m.fp"
    )


def build(con: duckdb.DuckDBPyConnection) -> None:
    """Write the summary tables into a snapshot copy opened read-write (never the workspace)."""
    have = _tables(con)
    if "events" not in have:
        return
    con.execute(f"CREATE OR REPLACE TEMP VIEW serve_ke AS {key_events_sql(have)}")
    statements = [
        "CREATE OR REPLACE TABLE serve_key_usage AS SELECT fp, count(*) AS events, "
        f"{iso('min(time)')} AS first_use, {iso('max(time)')} AS last_use, "
        "sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, "
        "count(*) FILTER (WHERE status = 'failure') AS failures, "
        "list(DISTINCT account ORDER BY account) FILTER (WHERE account IS NOT NULL)[1:5] AS accounts, "
        "min(provider) AS provider FROM serve_ke GROUP BY fp ORDER BY fp",
        "CREATE OR REPLACE TABLE serve_key_networks AS SELECT fp, src_ip, src_org, src_asn, src_country, "
        "count(*) AS events, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, "
        f"{iso('min(time)')} AS first, {iso('max(time)')} AS last "
        "FROM serve_ke GROUP BY ALL ORDER BY fp",
        "CREATE OR REPLACE TABLE serve_key_models AS SELECT fp, model, count(*) AS events, "
        "sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out "
        "FROM serve_ke WHERE model IS NOT NULL GROUP BY ALL ORDER BY fp",
        f"CREATE OR REPLACE TABLE serve_key_days AS SELECT fp, {_DAY} AS d, count(*) AS n "
        "FROM serve_ke GROUP BY ALL ORDER BY fp, d",
        f"CREATE OR REPLACE TABLE serve_key_probes AS SELECT fp, id, {iso('time')} AS time, operation, "
        "status, error_code, src_ip, user_agent, serve_ke.time AS t FROM serve_ke "
        "WHERE status = 'failure' OR model IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY fp ORDER BY serve_ke.time, id) <= {PROBES} "
        "ORDER BY fp, serve_ke.time, id",
        f"CREATE OR REPLACE TABLE serve_ip_days AS SELECT src_ip, {_DAY} AS d, count(*) AS n FROM events "
        "WHERE src_ip IS NOT NULL GROUP BY ALL ORDER BY src_ip, d",
        "CREATE OR REPLACE TABLE serve_ip_models AS SELECT src_ip, model, count(*) AS events, "
        "sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out FROM events "
        "WHERE src_ip IS NOT NULL AND model IS NOT NULL GROUP BY ALL ORDER BY src_ip",
        "CREATE OR REPLACE TABLE serve_values AS "
        + " UNION ALL ".join(
            f"SELECT '{c}' AS col, {c} AS value, count(*) AS events, "
            f"count(DISTINCT key_fingerprint) AS keys FROM events WHERE {c} IS NOT NULL GROUP BY {c}"
            for c in VALUE_COLUMNS
        ),
        "CREATE OR REPLACE TABLE serve_pivot AS "
        + " UNION ALL ".join(
            f"SELECT '{c}' AS col, {c} AS value, key_fingerprint, count(*) AS events, "
            f"{iso('min(time)')} AS first, {iso('max(time)')} AS last FROM events "
            f"WHERE {c} IS NOT NULL AND key_fingerprint IS NOT NULL GROUP BY {c}, key_fingerprint"
            for c in PIVOT_COLUMNS
        ),
    ]
    if "verdicts" in have:
        statements += [
            "CREATE OR REPLACE TABLE serve_key_verdicts AS SELECT k.fp, v.severity, count(*) AS prompts "
            "FROM verdicts v JOIN serve_ke k ON k.id = v.event_id GROUP BY ALL ORDER BY k.fp",
            f"CREATE OR REPLACE TABLE serve_key_flagged AS SELECT k.fp, k.id, {iso('k.time')} AS time, "
            f"k.model, v.severity, v.labels, {SEVERITY_RANK} AS rank, k.time AS t "
            "FROM verdicts v JOIN serve_ke k ON k.id = v.event_id WHERE v.severity <> 'none' "
            f"QUALIFY row_number() OVER (PARTITION BY k.fp ORDER BY rank DESC, k.time, k.id) <= {FLAGGED}",
        ]
    for sql in statements:
        con.execute(sql)
    con.execute("DROP VIEW serve_ke")
    con.execute(f"CREATE OR REPLACE TABLE {MARKER} AS SELECT now() AS built")


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


EMPTY_USAGE = {
    "events": 0,
    "first_use": None,
    "last_use": None,
    "tokens_in": None,
    "tokens_out": None,
    "failures": 0,
    "accounts": None,
    "provider": None,
}


def key_use(con: duckdb.DuckDBPyConnection, fp: str, have: set[str]) -> dict[str, Any]:
    """What entities._key_use computes at request time, read from the summaries (a few rows each)."""
    usage = rows(con, f"SELECT {', '.join(EMPTY_USAGE)} FROM serve_key_usage WHERE fp = ?", [fp])
    out: dict[str, Any] = {
        "usage": usage[0] if usage else dict(EMPTY_USAGE),
        "networks": rows(
            con,
            "SELECT src_ip, src_org, src_asn, src_country, events, tokens_in, tokens_out, first, last "
            f"FROM serve_key_networks WHERE fp = ? ORDER BY {NETWORK_ORDER} LIMIT 50",
            [fp],
        ),
        "models": rows(
            con,
            "SELECT model, events, tokens_in, tokens_out FROM serve_key_models WHERE fp = ? "
            "ORDER BY events DESC, model LIMIT 50",
            [fp],
        ),
        "probes": rows(
            con,
            "SELECT id, time, operation, status, error_code, src_ip, user_agent FROM serve_key_probes "
            "WHERE fp = ? ORDER BY t, id",
            [fp],
        ),
        "verdicts": [],
        "flagged_prompts": [],
        "per_day": con.execute("SELECT d, n FROM serve_key_days WHERE fp = ? ORDER BY d", [fp]).fetchall(),
    }
    if "verdicts" in have:
        out["verdicts"] = rows(
            con,
            "SELECT severity, prompts FROM serve_key_verdicts WHERE fp = ? ORDER BY prompts DESC, severity",
            [fp],
        )
        out["flagged_prompts"] = rows(
            con,
            "SELECT id, time, model, severity, labels FROM serve_key_flagged WHERE fp = ? "
            "ORDER BY rank DESC, t, id",
            [fp],
        )
    return out


def crew_activity(con: duckdb.DuckDBPyConnection, ips: list[str]) -> dict[str, Any]:
    """Events per day and per model from these addresses (sums of the per-address summaries)."""
    return {
        "per_day": con.execute(
            "SELECT d, sum(n) FROM serve_ip_days WHERE list_contains(?, src_ip) GROUP BY d ORDER BY d", [ips]
        ).fetchall(),
        "models": rows(
            con,
            "SELECT model, sum(events) AS events, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out "
            "FROM serve_ip_models WHERE list_contains(?, src_ip) GROUP BY model "
            "ORDER BY events DESC, model LIMIT 20",
            [ips],
        ),
    }
