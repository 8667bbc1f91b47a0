"""One key fingerprint from leak to abuse: what the key page and ``/api/keys/{fingerprint}`` show.

Every list on the page (leaks, networks, models, probes, flagged prompts; alerts come from
alerts.py) is paged in SQL with its own ``{list}_page``/``{list}_per_page`` and counted, and the
charts (events per day; abuse per day by network and by model) are aggregated in SQL.

Two sources give the same rows: the snapshot's summaries (summaries.py, a few rows read by
equality) and, for a file without them, the key's events scanned at request time into a temporary
table. Both are written below as one query per list over a different relation, so their columns,
filters and orders cannot drift apart; tests/serve/test_summaries.py compares the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringbreaker.case import estimate_cost
from ringbreaker.serve import summaries
from ringbreaker.serve.alerts import tables
from ringbreaker.serve.paging import Page, Pages, page_rows
from ringbreaker.serve.summaries import DAY, KEY_COLUMNS, MODEL_LABEL, NETWORK_LABEL, NETWORK_ORDER, iso, rows

if TYPE_CHECKING:
    import duckdb

# the lists a key page pages, and their default page sizes (the caps they had before paging)
KEY_LISTS = {"leaks": 50, "networks": 50, "models": 50, "probes": 50, "flagged_prompts": 20, "alerts": 200}
TOP_SERIES = 8  # series drawn per chart; the rest are summed as OTHERS
OTHERS = "(others)"
SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END"
ORDERS = {  # total orders over each list's output columns, so pages neither repeat nor skip
    "leaks": "leak_time NULLS LAST, path, location",
    "networks": NETWORK_ORDER,
    "models": "events DESC, model",
    "probes": "time, id",
    "flagged_prompts": f"{SEVERITY_ORDER} DESC, time, id",
}
_NET = "src_ip, src_org, src_asn, src_country"

# per list: (SQL over the summaries, one `fp = ?` parameter; SQL over the request's serve_key table)
_SOURCES = {
    "networks": (
        f"SELECT {_NET}, events, tokens_in, tokens_out, first, last FROM serve_key_networks WHERE fp = ?",
        f"SELECT {_NET}, count(*) AS events, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, "
        f"{iso('min(time)')} AS first, {iso('max(time)')} AS last FROM serve_key GROUP BY ALL",
    ),
    "models": (
        "SELECT model, events, tokens_in, tokens_out FROM serve_key_models WHERE fp = ?",
        "SELECT model, count(*) AS events, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out "
        "FROM serve_key WHERE model IS NOT NULL GROUP BY model",
    ),
    "probes": (
        "SELECT id, time, operation, status, error_code, src_ip, user_agent FROM serve_key_probes "
        "WHERE fp = ?",
        f"SELECT id, {iso('time')} AS time, operation, status, error_code, src_ip, user_agent "
        "FROM serve_key WHERE status = 'failure' OR model IS NULL",
    ),
    "per_day": (
        "SELECT d, n FROM serve_key_days WHERE fp = ?",
        f"SELECT {DAY} AS d, count(*) AS n FROM serve_key GROUP BY d",
    ),
    "by_network": (
        "SELECT d, network AS s, n FROM serve_key_day_networks WHERE fp = ?",
        f"SELECT {DAY} AS d, {NETWORK_LABEL} AS s, count(*) AS n FROM serve_key GROUP BY ALL",
    ),
    "by_model": (
        "SELECT d, model AS s, n FROM serve_key_day_models WHERE fp = ?",
        f"SELECT {DAY} AS d, {MODEL_LABEL} AS s, count(*) AS n FROM serve_key GROUP BY ALL",
    ),
    "verdicts": (
        "SELECT severity, prompts FROM serve_key_verdicts WHERE fp = ?",
        "SELECT v.severity, count(*) AS prompts FROM verdicts v JOIN serve_key k ON k.id = v.event_id "
        "GROUP BY v.severity",
    ),
    "flagged_prompts": (
        "SELECT id, time, model, severity, labels FROM serve_key_flagged WHERE fp = ?",
        f"SELECT k.id, {iso('k.time')} AS time, k.model, v.severity, v.labels FROM verdicts v "
        "JOIN serve_key k ON k.id = v.event_id WHERE v.severity <> 'none'",
    ),
}


def key(con: duckdb.DuckDBPyConnection, fp: str, pages: Pages | None = None) -> dict[str, Any] | None:
    """Everything about one key fingerprint: leaks, owner, probes, abuse by network and model (a
    table and per day), tokens and their cost, verdicts of its prompts, a daily timeline; ``pages``
    chooses the page of each list, ``totals`` says how many each has. None when the workspace
    never saw the key."""
    pages = pages or Pages.first(KEY_LISTS)
    have = tables(con)
    leaks, n_leaks, resources = _leaks(con, fp, have, pages["leaks"])
    owned = (
        rows(
            con,
            "SELECT crew_id, victim, provider, preview, leak_location, minutes_to_abuse, events "
            "FROM crew_keys WHERE key_fingerprint = ? ORDER BY crew_id",
            [fp],
        )
        if "crew_keys" in have
        else []
    )
    ready = summaries.ready(have)
    found = _use(con, have, pages, fp) if ready else _scan(con, fp, resources, have, pages)
    for f in found["flagged_prompts"]:  # the prompt text by id: an index lookup each on the snapshot
        row = con.execute("SELECT prompt FROM events WHERE id = ?", [f["id"]]).fetchone()
        f["prompt"] = row[0] if row else None
    if not n_leaks and not owned and not found["usage"]["events"]:
        return None
    all_models = found.pop("all_models")
    found["totals"] |= {"leaks": n_leaks}
    return {"fingerprint": fp, "leaks": leaks, "crew_keys": owned, **found, "cost": _cost(all_models)}


def _leaks(
    con: duckdb.DuckDBPyConnection, fp: str, have: set[str], page: Page
) -> tuple[list[dict[str, Any]], int, list[str]]:
    """One page of the key's findings, how many there are, and the resources they name (Azure)."""
    if "findings" not in have:
        return [], 0, []
    found, total = page_rows(
        con,
        "SELECT id, rule, provider, preview, resource, repo, path, line, commit_id, author, location, "
        f"{iso('leak_time')} AS leak_time, {iso('first_seen')} AS first_seen "
        "FROM findings WHERE fingerprint = ?",
        [fp],
        ORDERS["leaks"],
        page,
    )
    resources = con.execute(
        "SELECT DISTINCT resource FROM findings WHERE fingerprint = ? AND resource IS NOT NULL "
        "AND resource <> '' ORDER BY resource",
        [fp],
    ).fetchall()
    return found, total, [r[0] for r in resources]


def _cost(models: list[dict[str, Any]]) -> dict[str, Any]:
    """What the key's recorded model use costs at the case file's dated list prices (the same
    table and method as case.json's ``cost``, metered tokens only: the page says what the logs
    recorded, not an estimate of what they missed). The victim's invoice is the real figure."""
    usage = [
        {
            "model": m["model"],
            "requests": m["events"],
            "metered": m["events"],
            "tokens_in": m["tokens_in"] or 0,
            "tokens_out": m["tokens_out"] or 0,
        }
        for m in models
    ]
    c = estimate_cost(usage, {})
    keep = ("currency", "price_table_as_of", "by_model", "total_usd_metered", "unpriced_models")
    return {k: c[k] for k in keep}


def _scan(
    con: duckdb.DuckDBPyConnection, fp: str, resources: list[str], have: set[str], pages: Pages
) -> dict[str, Any]:
    """The key's use computed at request time (a snapshot without summaries; the reference that
    tests compare the summaries with)."""
    # Azure diagnostic logs never name the key, only its resource: a leak that names the resource
    # (findings.resource, the account name) joins the key to its use, as scan records it.
    cond, p = "key_fingerprint = ?", [fp]
    if resources:
        cond += " OR list_contains(?, regexp_extract(lower(resource), '/accounts/([^/]+)$', 1))"
        p.append(resources)  # type: ignore[arg-type]  # a list parameter
    # one scan of events for the key into a temporary table of this cursor; every aggregate below
    # reads that. Every workspace has `events` (migration 2).
    con.execute(f"CREATE OR REPLACE TEMP TABLE serve_key AS SELECT {KEY_COLUMNS} FROM events WHERE {cond}", p)
    try:
        return _use(con, have, pages)
    finally:
        con.execute("DROP TABLE IF EXISTS serve_key")


def _use(
    con: duckdb.DuckDBPyConnection, have: set[str], pages: Pages, fp: str | None = None
) -> dict[str, Any]:
    """Use, networks, models, probes, verdicts, days and abuse per day of the key: from the
    summaries when ``fp`` is given, else from the request's ``serve_key`` table."""

    def source(name: str) -> tuple[str, list[Any]]:
        summary, scan = _SOURCES[name]
        return (summary, [fp]) if fp is not None else (scan, [])

    if fp is not None:
        cols = ", ".join(summaries.EMPTY_USAGE)
        got = rows(con, f"SELECT {cols} FROM serve_key_usage WHERE fp = ?", [fp])
        usage = got[0] if got else dict(summaries.EMPTY_USAGE)
    else:
        usage = rows(con, f"SELECT {summaries.USAGE} FROM serve_key")[0]
    out: dict[str, Any] = {"usage": usage, "verdicts": [], "flagged_prompts": []}
    totals: dict[str, int] = {"flagged_prompts": 0}
    lists = ["networks", "models", "probes"] + (["flagged_prompts"] if "verdicts" in have else [])
    for name in lists:
        out[name], totals[name] = page_rows(con, *source(name), ORDERS[name], pages[name])
    out["totals"] = totals
    sql, params = source("models")
    out["all_models"] = rows(con, f"{sql} ORDER BY {ORDERS['models']}", params)  # the cost is of all
    sql, params = source("per_day")
    out["per_day"] = con.execute(f"{sql} ORDER BY d", params).fetchall()
    out["abuse_per_day"] = {
        "by_network": _top(con, *source("by_network"), "network"),
        "by_model": _top(con, *source("by_model"), "model"),
        "series": TOP_SERIES,
    }
    if "verdicts" in have:
        sql, params = source("verdicts")
        out["verdicts"] = rows(con, f"{sql} ORDER BY prompts DESC, severity", params)
    return out


def _top(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], name: str) -> list[dict[str, Any]]:
    """(day, series, events) rows of ``sql`` (columns d, s, n) per day: the TOP_SERIES series with the
    most events overall by name, the rest summed as OTHERS (a chart of 300 networks says nothing)."""
    return rows(
        con,
        f"WITH x AS ({sql}), top AS (SELECT s FROM x GROUP BY s ORDER BY sum(n) DESC, s LIMIT {TOP_SERIES}) "
        f"SELECT d AS day, CASE WHEN s IN (SELECT s FROM top) THEN s ELSE '{OTHERS}' END AS {name}, "
        f"sum(n) AS events FROM x GROUP BY ALL ORDER BY day, events DESC, {name}",
        params,
    )
