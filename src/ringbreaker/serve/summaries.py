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
    "id, time, operation, status, error_code, src_ip, src_org, src_asn, src_country, src_anonymizer, "
    "user_agent, model, tokens_in, tokens_out, account, provider"
)
VALUE_COLUMNS = ("src_ip", "actor", "user_agent", "end_user", "key_fingerprint")
PIVOT_COLUMNS = ("src_ip", "actor", "user_agent", "end_user")
_TS = "'%Y-%m-%dT%H:%M:%SZ'"
DAY = "strftime(timezone('UTC', date_trunc('day', time)), '%Y-%m-%d')"
NETWORK_ORDER = (
    "events DESC, src_ip NULLS LAST, src_org NULLS LAST, src_asn NULLS LAST, src_country NULLS LAST"
)
# a network as a chart names it: its kind when --geoip classed it (tor, anonymous-vpn, proxy,
# hosting), then its organisation, else its ASN, else the address itself
NETWORK_LABEL = (
    "coalesce(src_anonymizer || ': ', '') || "
    "coalesce(src_org, 'AS' || CAST(src_asn AS VARCHAR), src_ip, '(no address)')"
)
MODEL_LABEL = "coalesce(model, '(no model)')"


def iso(col: str) -> str:
    """SQL for a TIMESTAMPTZ column as ISO 8601 UTC text."""
    return f"strftime(timezone('UTC', {col}), {_TS})"


USAGE = (  # a key's use: the aggregates of its events
    f"count(*) AS events, {iso('min(time)')} AS first_use, {iso('max(time)')} AS last_use, "
    "sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, "
    "count(*) FILTER (WHERE status = 'failure') AS failures, "
    "list(DISTINCT account ORDER BY account) FILTER (WHERE account IS NOT NULL)[1:5] AS accounts, "
    "min(provider) AS provider"
)


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
        f"CREATE OR REPLACE TABLE serve_key_usage AS SELECT fp, {USAGE} FROM serve_ke "
        "GROUP BY fp ORDER BY fp",
        "CREATE OR REPLACE TABLE serve_key_networks AS SELECT fp, src_ip, src_org, src_asn, src_country, "
        "count(*) AS events, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, "
        f"{iso('min(time)')} AS first, {iso('max(time)')} AS last "
        "FROM serve_ke GROUP BY ALL ORDER BY fp",
        "CREATE OR REPLACE TABLE serve_key_models AS SELECT fp, model, count(*) AS events, "
        "sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out "
        "FROM serve_ke WHERE model IS NOT NULL GROUP BY ALL ORDER BY fp",
        f"CREATE OR REPLACE TABLE serve_key_days AS SELECT fp, {DAY} AS d, count(*) AS n "
        "FROM serve_ke GROUP BY ALL ORDER BY fp, d",
        f"CREATE OR REPLACE TABLE serve_key_day_networks AS SELECT fp, {DAY} AS d, "
        f"{NETWORK_LABEL} AS network, count(*) AS n FROM serve_ke GROUP BY ALL ORDER BY fp",
        f"CREATE OR REPLACE TABLE serve_key_day_models AS SELECT fp, {DAY} AS d, {MODEL_LABEL} AS model, "
        "count(*) AS n FROM serve_ke GROUP BY ALL ORDER BY fp",
        # every probe of every key (the page pages them): failed calls and calls without a model
        f"CREATE OR REPLACE TABLE serve_key_probes AS SELECT fp, id, {iso('time')} AS time, operation, "
        "status, error_code, src_ip, user_agent FROM serve_ke "
        "WHERE status = 'failure' OR model IS NULL ORDER BY fp",
        f"CREATE OR REPLACE TABLE serve_ip_days AS SELECT src_ip, {DAY} AS d, count(*) AS n FROM events "
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
            "k.model, v.severity, v.labels "
            "FROM verdicts v JOIN serve_ke k ON k.id = v.event_id WHERE v.severity <> 'none' ORDER BY k.fp",
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
