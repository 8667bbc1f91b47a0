"""Run detection rules over a workspace and keep the ``alerts`` table up to date.

Each rule's query returns hit rows; hits with equal ``group_by`` values become one alert whose id
hashes the rule id and those values, so re-running detect updates an alert (count, times, evidence)
and never raises it twice. Queries run first (read-only); then every alert of the run is written in
one transaction, so a crash leaves the previous alert set whole.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from ringbreaker.errors import RuleError
from ringbreaker.rules.detections import ENTITY_FIELDS, SEVERITIES, DetectionRule

MAX_EVIDENCE = 200  # event ids kept per alert: enough to prove it, small enough to print


@dataclass
class Alert:
    """One alert: a rule's hits on one entity group."""

    id: str
    rule: str
    severity: str
    title: str
    summary: str
    first_time: int  # epoch milliseconds
    last_time: int
    count: int
    entities: dict[str, list[str]]
    event_ids: list[str]
    details: dict[str, Any]
    group: dict[str, Any]
    new: bool = True
    hit_times: list[int] = field(default_factory=list, repr=False)  # first_time of each hit

    def to_json(self) -> dict[str, Any]:
        """The jsonl contract (DESIGN.md): id, rule, severity, first_seen, last_seen, entities, evidence."""
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "title": self.title,
            "summary": self.summary,
            "first_seen": iso(self.first_time),
            "last_seen": iso(self.last_time),
            "count": self.count,
            "entities": self.entities,
            "evidence": self.event_ids,
            "details": self.details,
            "new": self.new,
        }


@dataclass
class RuleRun:
    rule: str
    hits: int
    alerts: int
    seconds: float


@dataclass
class Result:
    alerts: list[Alert] = field(default_factory=list)
    runs: list[RuleRun] = field(default_factory=list)
    written: int = 0

    def worst(self) -> int:
        """Highest severity rank among the alerts (-1 if none)."""
        return max((SEVERITIES.index(a.severity) for a in self.alerts), default=-1)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def alert_id(rule: str, group: dict[str, Any]) -> str:
    """Stable id: SHA-256 of the rule id and the group values (canonical JSON), first 32 hex."""
    blob = json.dumps([rule, [[k, group[k]] for k in sorted(group)]], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _values(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list | tuple):
        return [str(x) for x in v if x is not None and x != ""]
    return [str(v)] if v != "" else []


def _plain(v: Any) -> Any:
    """A JSON-able copy of a DuckDB value (Decimals, dates and nested lists included)."""
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def hit_query(con: duckdb.DuckDBPyConnection, rule: DetectionRule) -> str:
    """The rule's query wrapped so times come back as epoch milliseconds (first/last) or ISO text
    (any other time column, e.g. an hour bucket in the group key): no pytz needed, stable ids."""
    rel = con.sql(rule.query)
    cols = []
    for name, typ in zip(rel.columns, rel.types, strict=True):
        q = '"' + name.replace('"', '""') + '"'
        if name in ("first_time", "last_time"):
            cols.append(f"epoch_ms({q}) AS {q}")
        elif "TIMESTAMP" in str(typ).upper() or str(typ).upper() == "DATE":
            cols.append(f"strftime({q}, '%Y-%m-%dT%H:%M:%SZ') AS {q}")
        else:
            cols.append(q)
    return f"SELECT {', '.join(cols)} FROM (\n{rule.query}\n) AS hits WHERE last_time >= ?::TIMESTAMPTZ"


def run_rule(
    con: duckdb.DuckDBPyConnection, rule: DetectionRule, since: str | None = None
) -> tuple[list[Alert], int]:
    """Run one rule; return its alerts (grouped hits) and the number of hits."""
    try:
        rel = con.execute(hit_query(con, rule), [since or "1970-01-01T00:00:00Z"])
        cols = [d[0] for d in rel.description]
        rows = rel.fetchall()
    except duckdb.Error as e:
        raise RuleError(f"query failed: {e}", source=rule.source) from e
    needed = {"first_time", "last_time", "event_ids", "summary", *rule.group_by, *rule.entities.values()}
    missing = needed - set(cols)
    if missing:
        raise RuleError(f"query does not return {sorted(missing)}", source=rule.source)
    hits = [dict(zip(cols, r, strict=True)) for r in rows]
    hits.sort(key=lambda h: (h["first_time"], str(h["summary"])))
    groups: dict[str, list[dict[str, Any]]] = {}
    keys: dict[str, dict[str, Any]] = {}
    for h in hits:
        group = {g: _plain(h[g]) for g in rule.group_by}
        aid = alert_id(rule.id, group)
        groups.setdefault(aid, []).append(h)
        keys[aid] = group
    alerts = []
    for aid, hs in groups.items():
        entities: dict[str, list[str]] = {f: [] for f in ENTITY_FIELDS}
        evidence: list[str] = []
        for h in hs:
            for f, col in rule.entities.items():
                for v in _values(h[col]):
                    if v not in entities[f]:
                        entities[f].append(v)
            for ev in _values(h["event_ids"]):
                if len(evidence) < MAX_EVIDENCE and ev not in evidence:
                    evidence.append(ev)
        first = hs[0]
        summary = str(first["summary"]) + (f" (+{len(hs) - 1} more)" if len(hs) > 1 else "")
        alerts.append(
            Alert(
                id=aid,
                rule=rule.id,
                severity=rule.severity,
                title=rule.title,
                summary=summary,
                first_time=min(h["first_time"] for h in hs),
                last_time=max(h["last_time"] for h in hs),
                count=len(hs),
                entities=entities,
                event_ids=evidence,
                details={d: _plain(first.get(d)) for d in rule.details},
                group=keys[aid],
                hit_times=[h["first_time"] for h in hs],
            )
        )
    return alerts, len(hits)


def _merge(con: duckdb.DuckDBPyConnection, alerts: list[Alert], partial: bool) -> None:
    """Fold what is already stored into this run's alerts: mark re-raised ones as not new and, for a
    --since run (which saw only recent hits), keep the stored earlier times, count and evidence."""
    if not alerts:
        return
    ids = [a.id for a in alerts]
    rows = con.execute(
        "SELECT id, epoch_ms(first_time), epoch_ms(last_time), count, event_ids FROM alerts "
        "WHERE list_contains(?, id)",
        [ids],
    ).fetchall()
    stored = {r[0]: r for r in rows}
    for a in alerts:
        old = stored.get(a.id)
        if old is None:
            continue
        a.new = False
        if partial:  # hits that start after the stored alert's last event are the new ones
            _, first, last, count, evidence = old
            a.count = count + sum(t > last for t in a.hit_times)
            a.first_time = min(first, a.first_time)
            a.last_time = max(last, a.last_time)
            a.event_ids = (list(evidence) + [e for e in a.event_ids if e not in evidence])[:MAX_EVIDENCE]


def write_alerts(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert]) -> int:
    """Upsert ``alerts`` in one transaction (delete-then-insert by id); return rows written."""
    now = datetime.now(UTC)
    rows = [
        (
            a.id,
            a.rule,
            a.severity,
            a.title,
            a.summary,
            a.first_time,
            a.last_time,
            a.count,
            *(a.entities[f] for f in ENTITY_FIELDS),
            a.event_ids,
            json.dumps(a.details, sort_keys=True),
            now,
        )
        for a in alerts
    ]
    cols = (
        "id, rule, severity, title, summary, first_time, last_time, count, "
        + ", ".join(ENTITY_FIELDS)
        + ", event_ids, details, first_detected, last_detected"
    )
    marks = ", ".join(["?"] * 5) + ", make_timestamptz(?::BIGINT * 1000), make_timestamptz(?::BIGINT * 1000)"
    marks += ", " + ", ".join(["?"] * (1 + len(ENTITY_FIELDS) + 2))
    con.execute("BEGIN TRANSACTION")
    try:
        old = dict(
            con.execute(
                "SELECT id, first_detected::VARCHAR FROM alerts WHERE list_contains(?, id)",
                [[a.id for a in alerts]],
            ).fetchall()
            if alerts
            else []
        )
        con.execute("DELETE FROM alerts WHERE list_contains(?, id)", [[a.id for a in alerts]])
        if rows:
            con.executemany(
                f"INSERT INTO alerts ({cols}) VALUES ({marks}, coalesce(?::TIMESTAMPTZ, ?::TIMESTAMPTZ), ?)",
                [(*r[:-1], old.get(r[0]), r[-1], r[-1]) for r in rows],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)


def detect(
    con: duckdb.DuckDBPyConnection,
    rules: Sequence[DetectionRule],
    *,
    since: str | None = None,
    write: bool = True,
    progress: Callable[[DetectionRule], None] | None = None,
) -> Result:
    """Run ``rules`` over the workspace; write their alerts (one transaction) unless ``write`` is false.

    ``since`` keeps only hits whose last event is at or after it; baselines inside the rules still
    see the whole history, so "first seen" means first in the workspace, not first since ``since``.
    """
    result = Result()
    for rule in rules:
        if progress:
            progress(rule)
        t0 = time.perf_counter()
        alerts, hits = run_rule(con, rule, since)
        result.runs.append(RuleRun(rule.id, hits, len(alerts), time.perf_counter() - t0))
        result.alerts.extend(alerts)
    _merge(con, result.alerts, partial=since is not None)
    if write:
        result.written = write_alerts(con, result.alerts)
    result.alerts.sort(key=lambda a: (-SEVERITIES.index(a.severity), a.first_time, a.rule))
    return result
