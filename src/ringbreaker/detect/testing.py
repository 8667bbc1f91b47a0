"""Run a detection rule's embedded tests on a real DuckDB workspace.

Each test builds a fresh workspace from its inputs: events-table rows inserted as given (with
defaults for the bookkeeping columns), raw provider records written to files and read by the real
``ingest`` as the format they are listed under (its registry ``parse``), findings and verdict rows.
The rule then runs exactly as ``detect`` runs it and its alerts are compared with ``expect``. A test
marked ``todo`` is a known miss: it must fail today, so fixing it is noticed (never a deleted case).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.detect.context import prepare
from ringbreaker.detect.runner import iso, run_rule
from ringbreaker.errors import RingbreakerError
from ringbreaker.ingest import FORMATS, IngestConfig, get_format, ingest
from ringbreaker.model import Alert
from ringbreaker.rules.detections import DetectionRule
from ringbreaker.workspace.context import parse_context, store_context

PROVIDER = {name: fmt.provider for name, fmt in FORMATS.items()}  # format -> events.provider


@dataclass(frozen=True)
class TestResult:
    rule: str
    test: str
    index: int
    todo: bool
    ok: bool  # for todo tests: True when the case still fails as recorded
    detail: str


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        cols = list(row)
        vals = [json.dumps(v) if isinstance(v, dict) else v for v in row.values()]
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['?'] * len(cols))})", vals)


def _events(rule: DetectionRule, rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    fmt = next((s for s in rule.sources if s in PROVIDER), "cloudtrail")
    out = []
    for i, r in enumerate(_expand(rows)):
        row = dict(r)
        row.setdefault("source_format", fmt)
        row.setdefault("id", f"{name}-{i + 1}")
        row.setdefault("provider", PROVIDER[row["source_format"]])
        row.setdefault("status", "success")
        row.setdefault("source_file", "rule-test")
        row.setdefault("source_offset", i)
        out.append(row)
    return out


def _expand(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An events row with ``repeat: N`` (and ``every: S`` seconds, default 60) stands for N rows, the
    k-th ``k * S`` seconds after its ``time``, ids suffixed ``-k``: volume cases stay readable."""
    out = []
    for r in rows:
        n, every = int(r.get("repeat", 1)), float(r.get("every", 60))
        base = {k: v for k, v in r.items() if k not in ("repeat", "every")}
        if n == 1:
            out.append(base)
            continue
        start = datetime.fromisoformat(str(base["time"]).replace("Z", "+00:00"))
        for k in range(n):
            row = dict(base, time=(start + timedelta(seconds=k * every)).isoformat())
            if "id" in base:
                row["id"] = f"{base['id']}-{k}"
            out.append(row)
    return out


def _findings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(rows):
        row = {
            "location": f"public/repo-{i}/config.py",
            "id": f"finding-{i + 1}",
            "rule": "secret.aws.access-key",
            "provider": "aws",
            "preview": "AKIA…(20)",
            "length": 20,
            "path": f"public/repo-{i}/config.py",
            "line": 1,
            "col": 1,
            "confidence": "high",
            "first_seen": "2025-01-01T00:00:00Z",
            "last_seen": "2025-01-01T00:00:00Z",
        }
        row.update(r)
        out.append(row)
    return out


def _verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        row: dict[str, Any] = {
            "bypass": 0.0,
            "sexual": 0.0,
            "real_person": 0.0,
            "minor": 0.0,
            "severity": "none",
            "labels": [],
            "model_version": "rule-test",
            "scored_at": "2025-01-01T00:00:00Z",
        }
        row.update(r)
        out.append(row)
    return out


def _ingest_records(
    con: duckdb.DuckDBPyConnection, folder: Path, records: dict[str, list[dict[str, Any]]]
) -> None:
    """Each format's records written to a file of their own and ingested as that format."""
    for name, recs in records.items():
        get_format(name)  # an unknown name is the rule's error, said as such (not as a bad --format-hint)
        if name == "cloudtrail":  # the S3 delivery shape
            path = folder / "cloudtrail.json"
            path.write_text(json.dumps({"Records": recs}))
        else:
            path = folder / f"{name}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in recs))
        ingest(con, [path], IngestConfig(hint=name, jobs=1))


def build_workspace(rule: DetectionRule, case: dict[str, Any], folder: Path) -> duckdb.DuckDBPyConnection:
    """A fresh workspace holding one test case's inputs."""
    from ringbreaker.workspace import fill_parsed_columns, open_workspace

    con = open_workspace(folder / "ws.duckdb")
    _insert(con, "events", _events(rule, case.get("events", []), case["name"]))
    fill_parsed_columns(con)  # rows given with raw get the columns ingest would have parsed
    _insert(con, "findings", _findings(case.get("findings", [])))
    _insert(con, "verdicts", _verdicts(case.get("verdicts", [])))
    if case.get("records"):
        logs = folder / "logs"
        logs.mkdir()
        _ingest_records(con, logs, case["records"])
    if case.get("context"):
        store_context(con, parse_context(case["context"], f"{rule.source} ({case['name']}: context)"))
    prepare(con)
    return con


def _matches(alert: Alert, want: dict[str, Any]) -> str:
    """Empty if ``alert`` has every field ``want`` names; else what differs."""
    got: dict[str, Any] = {
        **alert.entities,
        "count": alert.count,
        "event_ids": alert.event_ids,
        "first_time": iso(alert.first_time),
        "last_time": iso(alert.last_time),
        "summary": alert.summary,
        "severity": alert.severity.value,
    }
    for k, v in want.items():
        if k == "details":
            for dk, dv in v.items():
                have = alert.details.get(dk)
                same = (
                    abs(float(have) - float(dv)) < 1e-6
                    if isinstance(dv, int | float) and isinstance(have, int | float)
                    else have == dv
                )
                if not same:
                    return f"details.{dk}: want {dv!r}, got {have!r}"
        elif k == "summary_contains":
            if str(v) not in alert.summary:
                return f"summary {alert.summary!r} lacks {v!r}"
        elif isinstance(v, list):
            if sorted(map(str, v)) != sorted(got.get(k, [])):
                return f"{k}: want {sorted(v)}, got {sorted(got.get(k, []))}"
        elif k in ("first_time", "last_time"):
            if got[k] != str(v).replace("+00:00", "Z"):
                return f"{k}: want {v}, got {got[k]}"
        elif got.get(k) != v:
            return f"{k}: want {v!r}, got {got.get(k)!r}"
    return ""


def compare(alerts: list[Alert], expect: list[dict[str, Any]]) -> str:
    """Empty when the alerts are exactly the expected ones; else the first difference."""
    if len(alerts) != len(expect):
        said = "; ".join(a.summary for a in alerts[:3])
        return f"expected {len(expect)} alert(s), got {len(alerts)}" + (f": {said}" if said else "")
    left = list(alerts)
    for i, want in enumerate(expect):
        reasons = [_matches(a, want) for a in left]
        if "" not in reasons:
            return f"expect[{i}]: no alert matches ({reasons[0] if reasons else 'none left'})"
        left.pop(reasons.index(""))
    return ""


def run_case(rule: DetectionRule, index: int) -> TestResult:
    case = rule.tests[index]
    todo = "todo" in case
    with tempfile.TemporaryDirectory(prefix="ringbreaker-ruletest-") as tmp:
        try:
            con = build_workspace(rule, case, Path(tmp))
            try:
                alerts, _ = run_rule(con, rule)
            finally:
                con.close()
            detail = compare(alerts, case["expect"])
        except (RingbreakerError, duckdb.Error) as e:
            detail = f"error: {e}"
    passes = not detail
    ok = passes != todo
    if todo and not ok:
        detail = "known miss now passes: move it to the regular tests"
    return TestResult(rule.id, case["name"], index, todo, ok, detail)


def check_detection_rules(rules: Sequence[DetectionRule]) -> list[TestResult]:
    """Every embedded test of every rule, plus the Spark SQL transpilation check per rule."""
    results = []
    for rule in rules:
        problem = transpile_problem(rule)
        results.append(TestResult(rule.id, "transpiles to Spark SQL", -1, False, not problem, problem))
        results.extend(run_case(rule, i) for i in range(len(rule.tests)))
    return results


def to_spark(rule: DetectionRule) -> str:
    """The rule's query in Spark SQL as the Spark engine runs it (``spark.sql.to_spark``: sqlglot and
    the rewrites that keep DuckDB's values)."""
    from ringbreaker.spark.sql import to_spark as transpile

    return transpile(rule.query)


def transpile_problem(rule: DetectionRule) -> str:
    import sqlglot.errors

    try:
        out = to_spark(rule)
    except sqlglot.errors.SqlglotError as e:
        return f"does not transpile to Spark SQL: {str(e).splitlines()[0]}"
    return "" if out.strip() else "transpiled to nothing"
