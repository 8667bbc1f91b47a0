"""Load and validate detection rules (``builtin/detections/*.yaml``, one rule per file).

A detection rule is data: a SQL query over the workspace with the columns it promises, the entity it
groups alerts by, MITRE ids, a runbook line and its own tests. Loading checks the JSON schema and
the cross-field promises (group and entity columns must be named, details must not shadow the
standard hit columns); every problem across every file is reported together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringbreaker.errors import RuleError
from ringbreaker.model import ALERT_SEVERITIES, Severity
from ringbreaker.rules.loader import (
    _UNREADABLE,
    SchemaCheck,
    _read_yaml,
    _rule_files,
    builtin_dir,
)

SEVERITIES = ALERT_SEVERITIES  # info .. critical (the rule schema's enum), kept for its importers
HIT_COLUMNS = ("first_time", "last_time", "event_ids", "summary")


@dataclass(frozen=True)
class DetectionRule:
    """One detection rule as loaded from YAML (immutable; tests stay plain data)."""

    id: str
    title: str
    description: str
    severity: Severity
    mitre: tuple[str, ...]
    sources: tuple[str, ...]
    query: str
    group_by: tuple[str, ...]
    entities: dict[str, str]
    details: tuple[str, ...]
    runbook: str
    severity_rationale: str
    references: tuple[str, ...]
    tests: tuple[dict[str, Any], ...]
    source: str

    @property
    def rank(self) -> int:
        """Severity as a number (Severity.rank: info 1 .. critical 5), for --fail-on and sorting."""
        return self.severity.rank

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "detection",
            "title": self.title,
            "severity": self.severity,
            "mitre": list(self.mitre),
            "sources": list(self.sources),
            "group_by": list(self.group_by),
            "tests": len(self.tests),
            "source": self.source,
        }


def _detection_rule(raw: dict[str, Any], source: str) -> DetectionRule:
    return DetectionRule(
        id=raw["id"],
        title=raw["title"],
        description=raw["description"].strip(),
        severity=Severity(raw["severity"]),
        mitre=tuple(raw["mitre"]),
        sources=tuple(raw["sources"]),
        query=raw["query"].strip().rstrip(";"),
        group_by=tuple(raw["group_by"]),
        entities=dict(raw["entities"]),
        details=tuple(raw.get("details", ())),
        runbook=raw["runbook"].strip(),
        severity_rationale=raw.get("severity_rationale", "").strip(),
        references=tuple(raw.get("references", ())),
        tests=tuple(raw["tests"]),
        source=source,
    )


def _cross_checks(rule: DetectionRule) -> list[str]:
    problems = []
    clash = set(rule.details) & set(HIT_COLUMNS)
    if clash:
        problems.append(f"details must not repeat the standard hit columns: {sorted(clash)}")
    has_positive = any(t["expect"] for t in rule.tests if "todo" not in t)
    has_negative = any(not t["expect"] for t in rule.tests if "todo" not in t)
    if not (has_positive and has_negative):
        problems.append("tests need at least one case that alerts and one that stays quiet")
    return problems


def load_detection_rules(
    extra: Iterable[Path] = (), *, builtin: bool = True, check_builtin: bool = False
) -> list[DetectionRule]:
    """Load built-in detection rules plus extra files or directories; raise one RuleError listing
    every problem (schema violations, missing promises, duplicate ids). ``check_builtin``: hold
    the shipped rules to the schema too (see SchemaCheck)."""
    paths = ([builtin_dir("detections")] if builtin else []) + [Path(p) for p in extra]
    check = SchemaCheck("detection", check_builtin)
    problems: list[str] = []
    rules: list[DetectionRule] = []
    seen: dict[str, str] = {}
    for f in _rule_files(paths):
        raw = _read_yaml(f, problems)
        if raw is _UNREADABLE:
            continue
        if isinstance(raw, dict) and "rules" in raw:
            continue  # a secret-rule file given in a mixed --rules directory
        where = f"{f}" + (f" ({raw.get('id')})" if isinstance(raw, dict) else "")
        errs = check(f, raw, where)
        if errs:
            problems.extend(errs)
            continue
        rule = _detection_rule(raw, str(f))
        bad = _cross_checks(rule)
        if bad:
            problems.extend(f"{where}: {p}" for p in bad)
            continue
        if rule.id in seen:
            problems.append(f"{where}: duplicate id, first defined in {seen[rule.id]}")
            continue
        seen[rule.id] = str(f)
        rules.append(rule)
    if problems:
        raise RuleError(f"{len(problems)} problem(s) in detection rules", problems=problems)
    return sorted(rules, key=lambda r: r.id)
