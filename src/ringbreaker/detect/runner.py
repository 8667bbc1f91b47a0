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

from ringbreaker.detect.context import prepare
from ringbreaker.errors import RuleError
from ringbreaker.model import ALERT_SEVERITIES, ENTITY_FIELDS, Alert, Severity, iso_ms
from ringbreaker.rules.detections import DetectionRule
from ringbreaker.workspace import guarded, query_fault
from ringbreaker.workspace.evidence import cite

MAX_EVIDENCE = 200  # event ids kept per alert: enough to prove it, small enough to print
iso = iso_ms  # epoch ms -> ISO text; kept under its old name for detect's importers


@dataclass(slots=True)
class Draft:
    """An alert while its run is still folding hits and stored rows into it; ``freeze`` gives the
    model.Alert. ``hit_times`` (each hit's first_time) decides, on a --since run, which hits are new."""

    id: str
    rule: str
    severity: Severity
    title: str
    summary: str
    first_time: int
    last_time: int
    count: int
    entities: dict[str, list[str]]
    event_ids: list[str]
    details: dict[str, Any]
    hit_times: list[int]
    new: bool = True

    def freeze(self) -> Alert:
        entities: dict[str, Any] = {f: tuple(self.entities[f]) for f in ENTITY_FIELDS}
        return Alert(
            id=self.id,
            rule=self.rule,
            severity=self.severity,
            title=self.title,
            summary=self.summary,
            first_time=self.first_time,
            last_time=self.last_time,
            count=self.count,
            **entities,
            event_ids=tuple(self.event_ids),
            details=self.details,
            new=self.new,
        )


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
        """Highest Severity.rank among the alerts (-1 if none)."""
        return max((a.severity.rank for a in self.alerts), default=-1)


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
    drafts, hits = _run_rule(con, rule, since)
    return [d.freeze() for d in drafts], hits


def _run_rule(
    con: duckdb.DuckDBPyConnection, rule: DetectionRule, since: str | None
) -> tuple[list[Draft], int]:
    try:
        rel = con.execute(hit_query(con, rule), [since or "1970-01-01T00:00:00Z"])
        cols = [d[0] for d in rel.description]
        rows = rel.fetchall()
    except duckdb.Error as e:
        if not query_fault(e):  # the workspace failed under the rule (damaged, full, locked)
            raise
        raise RuleError(f"query failed: {e}", source=rule.source) from e
    return fold(rule, cols, rows)


def fold(rule: DetectionRule, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[list[Draft], int]:
    """A rule's hit rows (``cols`` as ``hit_query`` returns them) into its alert drafts and the
    number of hits. Engine-neutral: the DuckDB and Spark engines fold the same rows the same way,
    which is what makes their alert ids, evidence and summaries equal."""
    needed = {"first_time", "last_time", "event_ids", "summary", *rule.group_by, *rule.entities.values()}
    missing = needed - set(cols)
    if missing:
        raise RuleError(f"query does not return {sorted(missing)}", source=rule.source)
    hits = [dict(zip(cols, r, strict=True)) for r in rows]
    graded = "alert_severity" in cols
    if graded:
        _check_severities(rule, hits)
    # time, then summary, then evidence: hits that tie on both (copies of one pattern) still come in one
    # order, so an alert capped at MAX_EVIDENCE cites the same events on every run
    hits.sort(key=lambda h: (h["first_time"], str(h["summary"]), sorted(map(str, _values(h["event_ids"])))))
    groups: dict[str, list[dict[str, Any]]] = {}
    for h in hits:
        aid = alert_id(rule.id, {g: _plain(h[g]) for g in rule.group_by})
        groups.setdefault(aid, []).append(h)
    alerts = []
    for aid, hs in groups.items():
        entities: dict[str, list[str]] = {f: [] for f in ENTITY_FIELDS}
        evidence: list[str] = []
        for h in hs:  # hits in time order; a hit's own lists sorted, as SQL's list() has no order
            for f, col in rule.entities.items():
                for v in sorted(_values(h[col])):
                    if v not in entities[f]:
                        entities[f].append(v)
            for ev in sorted(_values(h["event_ids"])):
                if len(evidence) < MAX_EVIDENCE and ev not in evidence:
                    evidence.append(ev)
        first = hs[0]
        summary = str(first["summary"]) + (f" (+{len(hs) - 1} more)" if len(hs) > 1 else "")
        alerts.append(
            Draft(
                id=aid,
                rule=rule.id,
                severity=_worst(hs) if graded else rule.severity,
                title=rule.title,
                summary=summary,
                first_time=min(h["first_time"] for h in hs),
                last_time=max(h["last_time"] for h in hs),
                count=len(hs),
                entities=entities,
                event_ids=evidence,
                details={d: _plain(first.get(d)) for d in rule.details},
                hit_times=[h["first_time"] for h in hs],
            )
        )
    return alerts, len(hits)


def _check_severities(rule: DetectionRule, hits: list[dict[str, Any]]) -> None:
    """A graded rule (its query returns ``alert_severity``) sets severity per hit, so one rule can say
    medium for a console administrator and high for a long-term key from a hosting network; the
    alert takes its worst hit. The hits each carry a severity from the alert scale, none above the rule's own
    (the rule's ``severity`` is the highest it raises, what `rules list` and the docs show)."""
    names = {s.value for s in ALERT_SEVERITIES}
    for h in hits:
        v = h["alert_severity"]
        if v not in names:
            raise RuleError(f"hit severity {v!r} is not one of {sorted(names)}", source=rule.source)
        if Severity(v).rank > rule.severity.rank:
            raise RuleError(
                f"hit severity {v!r} is above the rule's own {rule.severity.value!r} (its highest)",
                source=rule.source,
            )


def _worst(hits: list[dict[str, Any]]) -> Severity:
    worst = Severity.worst(h["alert_severity"] for h in hits)
    assert worst is not None  # an alert has at least one hit
    return worst


def _merge(con: duckdb.DuckDBPyConnection, alerts: list[Draft], partial: bool) -> None:
    """Fold what is already stored into this run's alerts: mark re-raised ones as not new and, for a
    --since run (which saw only recent hits), keep the stored earlier times, count and evidence."""
    if not alerts:
        return
    ids = [a.id for a in alerts]
    rows = con.execute(
        "SELECT id, epoch_ms(first_time), epoch_ms(last_time), count, event_ids, severity FROM alerts "
        "WHERE list_contains(?, id)",
        [ids],
    ).fetchall()
    merge_stored(alerts, rows, partial)


def merge_stored(alerts: list[Draft], rows: Sequence[Sequence[Any]], partial: bool) -> None:
    """``_merge`` after the look-up: ``rows`` are the stored (id, first ms, last ms, count,
    event_ids, severity) of this run's alert ids, from whichever engine keeps them."""
    stored = {r[0]: r for r in rows}
    for a in alerts:
        old = stored.get(a.id)
        if old is None:
            continue
        a.new = False
        if partial:  # hits that start after the stored alert's last event are the new ones
            _, first, last, count, evidence, severity = old
            if severity in {s.value for s in ALERT_SEVERITIES} and Severity(severity).rank > a.severity.rank:
                a.severity = Severity(severity)  # a graded rule's earlier, worse hits still count
            a.count = count + sum(t > last for t in a.hit_times)
            a.first_time = min(first, a.first_time)
            a.last_time = max(last, a.last_time)
            a.event_ids = (list(evidence) + [e for e in a.event_ids if e not in evidence])[:MAX_EVIDENCE]


# Alert's columns as it declares them, then the run's bookkeeping; epoch ms become TIMESTAMPTZ.
_ALERT_COLUMNS = Alert.column_map()
_MARKS = {
    "first_time": "make_timestamptz(?::BIGINT * 1000)",
    "last_time": "make_timestamptz(?::BIGINT * 1000)",
}
_INSERT_ALERT = (
    f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS.values())}, first_detected, last_detected) "
    f"VALUES ({', '.join(_MARKS.get(c, '?') for c in _ALERT_COLUMNS.values())}, "
    "coalesce(?::TIMESTAMPTZ, ?::TIMESTAMPTZ), ?)"
)


def _stored(a: Alert, name: str) -> Any:
    """A field's value as its column takes it: details as JSON text, the tuples as lists."""
    v = getattr(a, name)
    if name == "details":
        return json.dumps(v, sort_keys=True)
    return list(v) if isinstance(v, tuple) else v


def write_alerts(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert]) -> int:
    """Upsert ``alerts`` in one transaction (delete-then-insert by id); return rows written."""
    now = datetime.now(UTC)
    rows = [tuple(_stored(a, name) for name in _ALERT_COLUMNS) for a in alerts]
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
            con.executemany(_INSERT_ALERT, [(*r, old.get(r[0]), now, now) for r in rows])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)


def run_rules(
    rules: Sequence[DetectionRule],
    run_one: Callable[[DetectionRule], tuple[list[Draft], int]],
    progress: Callable[[DetectionRule], None] | None,
) -> tuple[Result, list[Draft]]:
    """Each rule through ``run_one`` (an engine's query and fold), timed: the run's per-rule report
    and every rule's drafts, in rule order. Shared by the DuckDB and Spark engines."""
    result = Result()
    drafts: list[Draft] = []
    for rule in rules:
        if progress:
            progress(rule)
        t0 = time.perf_counter()
        found, hits = run_one(rule)
        result.runs.append(RuleRun(rule.id, hits, len(found), time.perf_counter() - t0))
        drafts.extend(found)
    return result, drafts


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
    with guarded(con, "detect"):
        return _detect(con, rules, since=since, write=write, progress=progress)


def _detect(
    con: duckdb.DuckDBPyConnection,
    rules: Sequence[DetectionRule],
    *,
    since: str | None,
    write: bool,
    progress: Callable[[DetectionRule], None] | None,
) -> Result:
    prepare(con)  # ip_context, principal_context, account_owner, expected_models (TEMP)
    result, drafts = run_rules(rules, lambda rule: _run_rule(con, rule, since), progress)
    _merge(con, drafts, partial=since is not None)
    result.alerts = cite(con, [d.freeze() for d in drafts])
    if write:
        result.written = write_alerts(con, result.alerts)
    result.alerts.sort(key=lambda a: (-a.severity.rank, a.first_time, a.rule))
    return result
