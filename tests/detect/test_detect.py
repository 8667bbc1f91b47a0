"""`ringbreaker detect` end to end on a simulated world: stolen keys named with leak-to-abuse minutes,
stable alerts on re-run, --fail-on, --since, output contracts (jsonl, OCSF 2004), one transaction."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest

from ringbreaker.detect.runner import detect, write_alerts
from ringbreaker.rules.detections import load_detection_rules
from ringbreaker.workspace import open_workspace
from tests.detect.conftest import rb

# OCSF 1.x Detection Finding (class 2004), derived from the schema's class definitions: base_event
# requires activity_id, category_uid, class_uid, metadata (product, version), severity_id, time and
# type_uid; finding requires finding_info (uid, title); detection_finding extends finding.
OCSF_2004 = {
    "type": "object",
    "required": [
        "activity_id",
        "category_uid",
        "class_uid",
        "metadata",
        "severity_id",
        "time",
        "type_uid",
        "finding_info",
    ],
    "properties": {
        "class_uid": {"const": 2004},
        "category_uid": {"const": 2},
        "activity_id": {"enum": [0, 1, 2, 3, 99]},
        "severity_id": {"enum": [0, 1, 2, 3, 4, 5, 6, 99]},
        "status_id": {"enum": [0, 1, 2, 3, 4, 5, 6, 99]},
        "time": {"type": "integer"},
        "type_uid": {"type": "integer"},
        "metadata": {
            "type": "object",
            "required": ["product", "version"],
            "properties": {
                "version": {"type": "string", "pattern": r"^1\.\d+\.\d+$"},
                "product": {"type": "object", "required": ["name", "vendor_name"]},
            },
        },
        "finding_info": {
            "type": "object",
            "required": ["uid", "title"],
            "properties": {
                "uid": {"type": "string", "minLength": 1},
                "title": {"type": "string", "minLength": 1},
                "analytic": {"type": "object", "required": ["type_id"]},
                "first_seen_time": {"type": "integer"},
                "last_seen_time": {"type": "integer"},
            },
        },
        "observables": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "type_id"]},
        },
    },
}


def _jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_stolen_keys_named_with_minutes_from_leak(ws_copy: Path, world: tuple[Path, dict[str, Any]]) -> None:
    truth = world[1]
    proc = rb("detect", "--workspace", str(ws_copy), "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    alerts = _jsonl(proc.stdout)
    for a in alerts:  # the jsonl contract
        assert {"id", "rule", "severity", "first_seen", "last_seen", "entities", "evidence"} <= set(a)
        assert a["evidence"]
        assert a["summary"]
    leaked = {a["entities"]["key_fingerprints"][0]: a for a in alerts if a["rule"] == "det.leaked-key.use"}
    stolen_aws = [k for k in truth["keys"] if k["compromised"] and k["provider"] == "aws"]
    assert stolen_aws
    for k in stolen_aws:
        a = leaked[k["fingerprint"]]
        assert a["severity"] == "critical"
        assert 0 < a["details"]["minutes_from_leak"] < 60
        assert a["first_seen"] == k["first_abuse_time"]
    legit = {k["fingerprint"] for k in truth["keys"] if not k["compromised"]}
    assert not legit & set(leaked)
    ring_ips = {m["value"] for c in truth["crews"] for m in c["members"] if m["kind"] == "ip"}
    named = {ip for a in alerts for ip in a["entities"]["src_ips"]}
    assert ring_ips <= named


def test_rerun_updates_never_duplicates(ws_copy: Path) -> None:
    first = _jsonl(rb("detect", "--workspace", str(ws_copy), "--format", "jsonl").stdout)
    second = _jsonl(rb("detect", "--workspace", str(ws_copy), "--format", "jsonl").stdout)
    assert sorted(a["id"] for a in first) == sorted(a["id"] for a in second)
    assert all(a["new"] for a in first)
    assert not any(a["new"] for a in second)
    con = duckdb.connect(str(ws_copy), read_only=True)
    n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM alerts").fetchone()  # type: ignore[misc]
    grouped = con.execute(
        "SELECT count, len(event_ids) FROM alerts WHERE rule = 'det.aws.bedrock.key-checker'"
    ).fetchall()
    con.close()
    assert n == distinct == len(first)
    assert all(count > 1 and evidence >= 3 for count, evidence in grouped)  # checker runs grouped per key


def test_fail_on_and_rule_filter(ws_copy: Path, tmp_path: Path) -> None:
    crit = rb(
        "detect",
        "--workspace",
        str(ws_copy),
        "--rule",
        "det.leaked-key.use",
        "--fail-on",
        "critical",
        check=False,
    )
    assert crit.returncode == 1
    low = rb(
        "detect",
        "--workspace",
        str(ws_copy),
        "--rule",
        "det.key.volume-surge",
        "--fail-on",
        "low",
        check=False,
    )
    assert low.returncode == 0  # the rule is quiet on this world
    missing = rb("detect", "--workspace", str(tmp_path / "none.duckdb"), "--fail-on", "info", check=False)
    assert missing.returncode == 2  # no workspace is not "no alerts"
    assert not (tmp_path / "none.duckdb").exists()
    rb("context", "--workspace", str(tmp_path / "empty.duckdb"), "--format", "json")  # an empty workspace
    empty = rb("detect", "--workspace", str(tmp_path / "empty.duckdb"), "--fail-on", "info", check=False)
    assert empty.returncode == 0
    bad = rb("detect", "--workspace", str(ws_copy), "--rule", "det.nope", check=False)
    assert bad.returncode == 2
    assert "unknown rule" in bad.stderr
    bad_time = rb("detect", "--workspace", str(ws_copy), "--since", "yesterday-ish", check=False)
    assert bad_time.returncode == 2


def test_since_keeps_only_recent_hits(ws_copy: Path) -> None:
    everything = _jsonl(rb("detect", "--workspace", str(ws_copy), "--format", "jsonl", "--dry-run").stdout)
    late = _jsonl(
        rb(
            "detect",
            "--workspace",
            str(ws_copy),
            "--format",
            "jsonl",
            "--dry-run",
            "--since",
            "2025-03-09T00:00:00Z",
        ).stdout
    )
    assert 0 < len(late) < len(everything)
    assert all(a["last_seen"] >= "2025-03-09T00:00:00Z" for a in late)
    con = duckdb.connect(str(ws_copy), read_only=True)
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == (0,)  # dry runs write nothing
    con.close()


def test_ocsf_detection_findings_validate(ws_copy: Path) -> None:
    proc = rb("detect", "--workspace", str(ws_copy), "--format", "ocsf")
    findings = json.loads(proc.stdout)
    assert findings
    validator = jsonschema.Draft202012Validator(OCSF_2004)
    for f in findings:
        errors = [e.message for e in validator.iter_errors(f)]
        assert not errors, errors
        assert f["type_uid"] == 2004 * 100 + f["activity_id"]
        assert f["finding_info"]["analytic"]["uid"].startswith("det.")
    leaked = [f for f in findings if f["finding_info"]["analytic"]["uid"] == "det.leaked-key.use"]
    assert leaked
    assert all(f["severity_id"] == 5 for f in leaked)
    assert any(a["technique"]["uid"] == "T1552.001" for a in leaked[0]["finding_info"]["attacks"])
    assert "minutes_from_leak" in leaked[0]["unmapped"]["details"]


def test_write_is_one_transaction(ws_copy: Path) -> None:
    con = open_workspace(ws_copy)
    rules = load_detection_rules()
    before = detect(con, rules)
    stored = con.execute("SELECT count(*) FROM alerts").fetchone()
    assert stored == (len(before.alerts),)
    good = before.alerts[0]
    broken = dataclasses.replace(good, id="x" * 32, severity=None)  # NOT NULL violation mid-batch
    with pytest.raises(duckdb.Error):
        write_alerts(con, [*before.alerts[1:], broken])
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == stored
    assert con.execute("SELECT count(*) FROM alerts WHERE id = ?", [good.id]).fetchone() == (1,)
    con.close()


def test_table_output_and_help(ws_copy: Path) -> None:
    proc = rb("detect", "--workspace", str(ws_copy), "--rule", "det.leaked-key.use")
    assert "det.leaked-key.use" in proc.stdout
    assert "min after the leak" in proc.stdout
    assert "alert(s)" in proc.stderr
    helptext = rb("detect", "--help").stdout
    assert "--fail-on" in helptext
    assert "Examples" in helptext


def test_since_rerun_neither_double_counts_nor_forgets(ws_copy: Path) -> None:
    full = {a["id"]: a for a in _jsonl(rb("detect", "--workspace", str(ws_copy), "--format", "jsonl").stdout)}
    late = _jsonl(
        rb(
            "detect", "--workspace", str(ws_copy), "--format", "jsonl", "--since", "2025-03-09T00:00:00Z"
        ).stdout
    )
    assert late
    for a in late:
        old = full[a["id"]]
        assert not a["new"]
        assert (a["first_seen"], a["count"]) == (old["first_seen"], old["count"])
        assert set(old["evidence"]) <= set(a["evidence"])


def test_capped_evidence_is_the_same_on_every_run(tmp_path: Path) -> None:
    """400 hits that tie on time and summary (copies of one pattern), returned in an order that is not
    their ids' order: the alert cites the same 200 events every time, the first by id."""
    rule = dataclasses.replace(
        load_detection_rules()[0],
        query="SELECT 'k' AS key, TIMESTAMPTZ '2025-01-01 00:00:00+00' AS first_time, "
        "TIMESTAMPTZ '2025-01-01 00:00:00+00' AS last_time, "
        "['e' || lpad(CAST((i * 7919) % 400 AS VARCHAR), 3, '0')] AS event_ids, 'same' AS summary "
        "FROM range(400) t(i)",
        group_by=("key",),
        entities={},
        details=(),
    )
    con = open_workspace(tmp_path / "ws.duckdb")
    runs = [detect(con, [rule], write=False).alerts for _ in range(3)]
    con.close()
    assert [len(r) for r in runs] == [1, 1, 1]
    assert [list(r[0].event_ids) for r in runs] == [[f"e{i:03d}" for i in range(200)]] * 3
    assert runs[0][0].count == 400
