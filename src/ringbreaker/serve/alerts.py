"""Alerts as the workbench reads them: the inbox (filters, sorting, pages in SQL), one alert, overview.

Rows of the ``alerts`` table become ``ringbreaker.model.Alert`` values, and their JSON is
``Alert.to_json`` — the very function behind ``detect --format jsonl`` — so the API's field names
are the CLI's. ``new`` is not stored; here it means "raised by one detect run only so far"
(``first_detected = last_detected``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ringbreaker.model import ALERT_SEVERITIES, ENTITY_FIELDS, Alert, Severity
from ringbreaker.serve.paging import Page
from ringbreaker.workspace.evidence import cite

if TYPE_CHECKING:
    import duckdb

PER_PAGE = 50
RANK_SQL = "CASE severity " + " ".join(f"WHEN '{s.value}' THEN {s.rank}" for s in ALERT_SEVERITIES) + " END"
SORTS = {  # the inbox's sort keys -> SQL (each ends with id, so pages are stable)
    "last_seen": "last_time",
    "first_seen": "first_time",
    "severity": RANK_SQL,
    "count": "count",
    "rule": "rule",
}
COLUMNS = (
    "id, rule, severity, title, summary, epoch_ms(first_time), epoch_ms(last_time), count, "
    + ", ".join(ENTITY_FIELDS)
    + ", event_ids, details, first_detected = last_detected"
)


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The workspace's tables (a workspace before `detect` or `attribute` lacks theirs)."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def to_alert(row: tuple[Any, ...]) -> Alert:
    """One row of ``SELECT {COLUMNS} FROM alerts`` as the core type."""
    n = len(ENTITY_FIELDS)
    entities = {f: tuple(row[8 + i] or ()) for i, f in enumerate(ENTITY_FIELDS)}
    details = row[9 + n]
    return Alert(
        id=row[0],
        rule=row[1],
        severity=Severity(row[2]),
        title=row[3],
        summary=row[4],
        first_time=int(row[5]),
        last_time=int(row[6]),
        count=int(row[7]),
        key_fingerprints=entities["key_fingerprints"],
        principals=entities["principals"],
        src_ips=entities["src_ips"],
        accounts=entities["accounts"],
        resources=entities["resources"],
        proxy_hosts=entities["proxy_hosts"],
        end_users=entities["end_users"],
        event_ids=tuple(row[8 + n] or ()),
        details=json.loads(details) if details else {},
        new=bool(row[10 + n]),
    )


@dataclass(frozen=True)
class Filters:
    """The inbox's query: filters, sort and page, as the URL gives them (validated by ``parse``)."""

    severity: tuple[str, ...] = ()
    rule: str = ""
    since: str = ""
    q: str = ""
    sort: str = "last_seen"
    desc: bool = True
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, params: dict[str, str]) -> Filters:
        """From query parameters; ValueError names the parameter that is wrong."""
        sev = tuple(s for s in params.get("severity", "").split(",") if s)
        bad = [s for s in sev if s not in {x.value for x in ALERT_SEVERITIES}]
        if bad:
            raise ValueError(f"severity: {', '.join(bad)} is not one of info, low, medium, high, critical")
        sort = params.get("sort", "last_seen")
        if sort not in SORTS:
            raise ValueError(f"sort: one of {', '.join(SORTS)}")
        pg = Page.parse(params, PER_PAGE)
        return cls(
            severity=sev,
            rule=params.get("rule", "").strip(),
            since=params.get("since", "").strip(),
            q=params.get("q", "").strip(),
            sort=sort,
            desc=params.get("order", "desc") != "asc",
            page=pg.page,
            per_page=pg.per_page,
        )

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        parts, params = ["TRUE"], list[Any]()
        if self.severity:
            parts.append("list_contains(?, severity)")
            params.append(list(self.severity))
        if self.rule:
            parts.append("(rule = ? OR starts_with(rule, ?))")
            params += [self.rule, self.rule.rstrip(".") + "."]
        if self.since:
            parts.append("last_time >= CAST(? AS TIMESTAMPTZ)")
            params.append(self.since)
        if self.q:
            like = f"%{self.q}%"
            ents = " OR ".join(f"list_contains({f}, ?)" for f in ENTITY_FIELDS)
            parts.append(f"(id = ? OR title ILIKE ? OR summary ILIKE ? OR rule ILIKE ? OR {ents})")
            params += [self.q, like, like, like] + [self.q] * len(ENTITY_FIELDS)
        return " AND ".join(parts), params

    def query(self, **change: Any) -> dict[str, str]:
        """These filters (with ``change`` applied) as URL parameters, defaults left out."""
        cur = {
            "severity": ",".join(self.severity),
            "rule": self.rule,
            "since": self.since,
            "q": self.q,
            "sort": self.sort,
            "order": "desc" if self.desc else "asc",
            "page": str(self.page),
            "per_page": str(self.per_page),
        } | {k: str(v) for k, v in change.items()}
        defaults = {"sort": "last_seen", "order": "desc", "page": "1", "per_page": str(PER_PAGE)}
        return {k: v for k, v in cur.items() if v and defaults.get(k) != v}


def inbox(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[list[Alert], int]:
    """One page of alerts matching ``f`` and how many match in all (both computed in SQL)."""
    if "alerts" not in tables(con):
        return [], 0
    import duckdb

    if f.since:
        try:
            con.execute("SELECT CAST(? AS TIMESTAMPTZ)", [f.since])
        except duckdb.Error:
            raise ValueError(f"since: {f.since!r} is not a time (example: 2025-03-05T00:00:00Z)") from None
    where, params = f.where()
    total_row = con.execute(f"SELECT count(*) FROM alerts WHERE {where}", params).fetchone()
    order = "DESC" if f.desc else "ASC"
    rows = con.execute(
        f"SELECT {COLUMNS} FROM alerts WHERE {where} ORDER BY {SORTS[f.sort]} {order}, id "
        f"LIMIT {f.per_page} OFFSET {(f.page - 1) * f.per_page}",
        params,
    ).fetchall()
    # each alert with its evidence's file hash + position, as `detect --format jsonl` prints it
    return cite(con, [to_alert(r) for r in rows]), int(total_row[0]) if total_row else 0


def one(con: duckdb.DuckDBPyConnection, alert_id: str) -> Alert | None:
    if "alerts" not in tables(con):
        return None
    row = con.execute(f"SELECT {COLUMNS} FROM alerts WHERE id = ?", [alert_id]).fetchone()
    return cite(con, [to_alert(row)])[0] if row else None


def _where(
    con: duckdb.DuckDBPyConnection, cond: str, params: list[Any], limit: int, offset: int = 0
) -> list[Alert]:
    """Alerts matching a condition, most severe and newest first (none before `detect` ran)."""
    if "alerts" not in tables(con):
        return []
    rows = con.execute(
        f"SELECT {COLUMNS} FROM alerts WHERE {cond} "
        f"ORDER BY {RANK_SQL} DESC, last_time DESC, id LIMIT {limit} OFFSET {offset}",
        params,
    ).fetchall()
    return [to_alert(r) for r in rows]


def related(con: duckdb.DuckDBPyConnection, alert: Alert, limit: int = 50) -> list[Alert]:
    """Other alerts sharing a key, an IP or a principal with ``alert``."""
    shared = ("key_fingerprints", "src_ips", "principals")
    cond = " OR ".join(f"len(list_intersect({f}, ?)) > 0" for f in shared)
    return _where(con, f"id <> ? AND ({cond})", [alert.id, *(list(getattr(alert, f)) for f in shared)], limit)


def on_key(
    con: duckdb.DuckDBPyConnection, fingerprint: str, page: Page | None = None
) -> tuple[list[Alert], int]:
    """One page of the alerts that name a key (with their citations: the key's page lists them as
    detect does) and how many there are."""
    page = page or Page(1, 200)
    if "alerts" not in tables(con):
        return [], 0
    cond = "list_contains(key_fingerprints, ?)"
    total = con.execute(f"SELECT count(*) FROM alerts WHERE {cond}", [fingerprint]).fetchone()
    found = _where(con, cond, [fingerprint], page.per_page, page.offset)
    return cite(con, found), int(total[0]) if total else 0


def citing(con: duckdb.DuckDBPyConnection, event_id: str, limit: int = 50) -> list[Alert]:
    """Alerts that cite an event as evidence."""
    return _where(con, "list_contains(event_ids, ?)", [event_id], limit)


def overview(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The front page: counts, alerts per day by severity, top keys and crews, newest critical alerts."""
    have = tables(con)

    def count(sql: str) -> int:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    out: dict[str, Any] = {
        "events": count("SELECT count(*) FROM events") if "events" in have else 0,
        "keys_leaked": count("SELECT count(DISTINCT fingerprint) FROM findings") if "findings" in have else 0,
        "crews": count("SELECT count(*) FROM crews") if "crews" in have else 0,
        "alerts": {s.value: 0 for s in reversed(ALERT_SEVERITIES)},
        "per_day": [],
        "top_keys": [],
        "top_crews": [],
        "critical": [],
    }
    if "alerts" in have:
        for sev, n in con.execute("SELECT severity, count(*) FROM alerts GROUP BY severity").fetchall():
            out["alerts"][sev] = int(n)
        out["per_day"] = con.execute(
            "SELECT strftime(timezone('UTC', date_trunc('day', last_time)), '%Y-%m-%d') AS day, severity, "
            "count(*) FROM alerts GROUP BY ALL ORDER BY day"
        ).fetchall()
        out["top_keys"] = con.execute(
            f"SELECT fp, count(*) AS n, max({RANK_SQL}) AS worst FROM "
            "(SELECT unnest(key_fingerprints) AS fp, severity FROM alerts) GROUP BY fp "
            "ORDER BY worst DESC, n DESC, fp LIMIT 10"
        ).fetchall()
        out["critical"] = [
            to_alert(r)
            for r in con.execute(
                f"SELECT {COLUMNS} FROM alerts WHERE severity = 'critical' "
                "ORDER BY last_time DESC, id LIMIT 10"
            ).fetchall()
        ]
    if {"crews", "crew_keys"} <= have:
        out["top_crews"] = con.execute(
            "SELECT c.id, c.name, count(k.key_fingerprint) AS keys FROM crews c "
            "LEFT JOIN crew_keys k ON k.crew_id = c.id GROUP BY c.id, c.name "
            "ORDER BY keys DESC, c.id LIMIT 10"
        ).fetchall()
    return out
