"""Alert output: a table for people, json/jsonl for scripts, OCSF Detection Finding for SIEMs.

The jsonl field names are a contract (see docs/cli.md): id, rule, severity, title, summary,
first_seen, last_seen, count, entities, evidence, details, new.
OCSF: each alert becomes one Detection Finding (class_uid 2004, category 2 Findings) in OCSF 1.x:
activity Create for a new alert and Update for one raised again, the rule as the analytic, MITRE
ids as attacks, the entities as observables and resources, the event ids as evidences.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ringbreaker import __version__
from ringbreaker.model import ALERT_SEVERITIES, Alert, Citation, Severity
from ringbreaker.rules.detections import DetectionRule

OCSF_VERSION = "1.3.0"
# OCSF severity_id: 1 Informational .. 5 Critical, which is Severity.rank on the alert scale
SEVERITY_ID = {s.value: s.rank for s in ALERT_SEVERITIES}
OBSERVABLE_TYPE = {  # OCSF observable type_id: 2 IP Address, 4 User Name, 10 Resource UID, 99 Other
    "src_ips": (2, "IP Address"),
    "principals": (4, "User Name"),
    "resources": (10, "Resource UID"),
    "key_fingerprints": (99, "Other"),
    "accounts": (99, "Other"),
    "proxy_hosts": (1, "Hostname"),
    "end_users": (4, "User Name"),
}


def ocsf(alert: Alert, rule: DetectionRule | None, now_ms: int | None = None) -> dict[str, Any]:
    """One alert as an OCSF 1.x Detection Finding (class 2004)."""
    now_ms = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    activity = 1 if alert.new else 2
    cited = {c.event_id: c for c in alert.citations}
    observables = [
        {"name": field, "type_id": OBSERVABLE_TYPE[field][0], "type": OBSERVABLE_TYPE[field][1], "value": v}
        for field, values in alert.entities.items()
        for v in values
    ]
    attacks = []
    for t in rule.mitre if rule else ():
        if t.startswith("T"):
            attacks.append({"technique": {"uid": t}, "version": "15"})
    finding_info: dict[str, Any] = {
        "uid": alert.id,
        "title": alert.title,
        "desc": rule.description if rule else alert.summary,
        "types": [alert.rule],
        "created_time": now_ms,
        "first_seen_time": alert.first_time,
        "last_seen_time": alert.last_time,
        "analytic": {"uid": alert.rule, "name": alert.title, "type_id": 1, "type": "Rule"},
        "related_events_count": alert.count,
    }
    if attacks:
        finding_info["attacks"] = attacks
    out: dict[str, Any] = {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity,
        "activity_name": "Create" if activity == 1 else "Update",
        "type_uid": 2004 * 100 + activity,
        "type_name": f"Detection Finding: {'Create' if activity == 1 else 'Update'}",
        "severity_id": SEVERITY_ID[alert.severity],
        "severity": "Informational" if alert.severity == Severity.INFO else alert.severity.capitalize(),
        "time": now_ms,
        "start_time": alert.first_time,
        "end_time": alert.last_time,
        "count": alert.count,
        "message": alert.summary,
        "status_id": 1,
        "status": "New",
        "is_alert": True,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": alert.id,
            "product": {"name": "ringbreaker", "vendor_name": "ringbreaker", "version": __version__},
        },
        "finding_info": finding_info,
        "observables": observables,
        "resources": [{"uid": r, "type": "cloud resource"} for r in alert.entities.get("resources", [])]
        + [{"uid": a, "type": "account"} for a in alert.entities.get("accounts", [])],
        "evidences": [{"data": _evidence(e, cited)} for e in alert.event_ids[:50]],
        "unmapped": {"details": alert.details},
    }
    if rule:
        out["remediation"] = {"desc": rule.runbook, "references": list(rule.references)}
    return out


def _evidence(event_id: str, cited: dict[str, Citation]) -> dict[str, Any]:
    """One OCSF evidence: the event id, and (added by issue 13) the file hash + position it cites."""
    c = cited.get(event_id)
    if c is None:
        return {"event_id": event_id}
    return {"event_id": event_id} | {k: v for k, v in c.to_json().items() if k != "event_id"}


def render(alerts: Sequence[Alert], fmt: str, rules: dict[str, DetectionRule]) -> str:
    """Alerts as text in ``fmt`` (json, jsonl, ocsf); the table is printed by the CLI with rich."""
    if fmt == "json":
        return json.dumps([a.to_json() for a in alerts], indent=2)
    if fmt == "jsonl":
        return "".join(json.dumps(a.to_json()) + "\n" for a in alerts).rstrip("\n")
    if fmt == "ocsf":
        return json.dumps([ocsf(a, rules.get(a.rule)) for a in alerts], indent=2)
    raise ValueError(fmt)
