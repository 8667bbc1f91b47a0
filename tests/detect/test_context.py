"""The owner's context (`ringbreaker context`, `detect --context`) and graded severity: a context file is
validated whole and stored in one transaction, the per-run context tables classify each address and
principal, and a rule that returns ``alert_severity`` grades its hits (never above its own severity)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml

from ringbreaker.detect.context import prepare
from ringbreaker.detect.runner import detect
from ringbreaker.detect.testing import run_case
from ringbreaker.errors import InputError, RuleError
from ringbreaker.rules.detections import load_detection_rules
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.context import load_context, parse_context, read_context, store_context
from tests.detect.conftest import rb

CONTEXT = {
    "version": 1,
    "networks": [
        {"cidr": "203.0.113.0/24", "kind": "office", "name": "HQ"},
        {"cidr": "203.0.113.128/25", "kind": "ci", "name": "runners"},
        {"cidr": "2001:db8:10::/48", "kind": "vpn"},
    ],
    "principals": [
        {"match": "arn:aws:iam::*:role/terraform-*", "kind": "iac", "name": "Terraform"},
        {"match": "arn:aws:iam::*:role/*", "kind": "service"},
    ],
    "accounts": [{"id": "111122223333", "owner": "acme"}, {"id": "444455556666", "owner": "acme"}],
    "models": [{"principal": "arn:aws:iam::*:role/app-*", "models": ["anthropic.claude-3-haiku*"]}],
}


def _write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_context_cli_stores_shows_and_clears(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    f = _write(tmp_path / "context.yaml", CONTEXT)
    done = rb("context", str(f), "--workspace", str(ws))
    assert "3 network(s), 2 principal(s), 2 account(s), 1 model expectation(s) stored" in done.stderr
    shown = json.loads(rb("context", "--workspace", str(ws), "--format", "json").stdout)
    assert shown == CONTEXT  # the stored context prints back as the file said it, in its order
    again = yaml.safe_load(rb("context", "--workspace", str(ws)).stdout)
    assert again == CONTEXT
    rb("context", "--clear", "--workspace", str(ws), "-q")
    cleared = json.loads(rb("context", "--workspace", str(ws), "--format", "json").stdout)
    assert cleared["networks"] == []
    assert cleared["principals"] == []
    assert cleared["accounts"] == []


def test_invalid_context_names_every_problem_and_stores_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    rb("context", str(_write(tmp_path / "good.yaml", CONTEXT)), "--workspace", str(ws), "-q")
    bad = {
        "networks": [{"cidr": "10.0.0.300/24", "kind": "office"}, {"cidr": "10.1.0.0/16", "kind": "home"}],
        "principals": [{"kind": "iac"}],
    }
    done = rb("context", str(_write(tmp_path / "bad.yaml", bad)), "--workspace", str(ws), check=False)
    assert done.returncode == 2, done.stderr
    assert "bad.yaml" in done.stderr
    assert "Traceback" not in done.stderr
    assert "networks/0/cidr" in done.stderr  # the CIDR that is no network
    assert "networks/1/kind" in done.stderr  # and the unknown kind, in the same message
    assert "principals/0" in done.stderr
    assert "'match' is a required property" in done.stderr
    kept = json.loads(rb("context", "--workspace", str(ws), "--format", "json").stdout)
    assert kept == CONTEXT  # the earlier context is untouched


def test_bad_yaml_names_its_line_and_file_with_clear_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("networks:\n  - {cidr: 10.0.0.0/8, kind: office\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_context(f)
    assert e.value.line == 3
    assert "c.yaml" in str(e.value)
    done = rb("context", str(f), "--clear", "--workspace", str(tmp_path / "ws.duckdb"), check=False)
    assert done.returncode == 2
    assert "not both" in done.stderr


def _events(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str | None, int | None, str]]) -> None:
    for i, (actor, ip, asn, account) in enumerate(rows):
        con.execute(
            "INSERT INTO events (id, time, provider, operation, status, actor, account, src_ip, src_asn,"
            " model, source_format, source_file) VALUES (?, TIMESTAMPTZ '2025-03-05 10:00:00+00', 'aws',"
            " 'InvokeModel', 'success', ?, ?, ?, ?, 'anthropic.claude-3-haiku-20240307-v1:0', 'cloudtrail',"
            " 'f.json')",
            [f"e{i}", actor, account, ip, asn],
        )


def test_prepare_classifies_addresses_principals_accounts_and_models(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "ws.duckdb")
    _events(
        con,
        [
            ("arn:aws:iam::111122223333:role/terraform-apply", "203.0.113.9", None, "111122223333"),
            ("arn:aws:iam::111122223333:role/app-chat", "203.0.113.200", None, "444455556666"),
            ("arn:aws:iam::111122223333:user/dev", "2001:db8:10::5", None, "999988887777"),
            ("arn:aws:iam::111122223333:user/dev", "10.2.3.4", None, "111122223333"),
            ("arn:aws:iam::111122223333:user/dev", "bedrock.amazonaws.com", None, "111122223333"),
            ("arn:aws:iam::111122223333:user/dev", "45.77.1.2", 20473, "111122223333"),  # Vultr
            ("arn:aws:iam::111122223333:user/dev", "81.2.69.160", 3320, "111122223333"),
            ("arn:aws:sts::111122223333:assumed-role/terraform-plan/gh-7", "10.2.3.4", None, "111122223333"),
        ],
    )
    store_context(con, parse_context(CONTEXT, "test"))
    prepare(con)
    kinds = dict(
        (ip, (kind, internal))
        for ip, kind, internal in con.execute("SELECT src_ip, net_kind, internal FROM ip_context").fetchall()
    )
    assert kinds == {
        "203.0.113.9": ("office", True),
        "203.0.113.200": ("ci", True),  # the /25 inside the office /24 is more specific
        "2001:db8:10::5": ("vpn", True),
        "10.2.3.4": ("private", True),
        "bedrock.amazonaws.com": ("aws-service", True),
        "45.77.1.2": ("hosting", False),
        "81.2.69.160": ("public", False),
    }
    principals = dict(con.execute("SELECT actor, principal_kind FROM principal_context").fetchall())
    assert principals == {  # first match wins, in the file's order
        "arn:aws:iam::111122223333:role/terraform-apply": "iac",
        "arn:aws:iam::111122223333:role/app-chat": "service",
        "arn:aws:sts::111122223333:assumed-role/terraform-plan/gh-7": "iac",  # through its role's ARN
    }
    owners = dict(con.execute("SELECT account, owner FROM account_owner").fetchall())
    assert owners == {"111122223333": "acme", "444455556666": "acme", "999988887777": "999988887777"}
    expected = con.execute("SELECT subject FROM expected_models").fetchall()
    assert expected == [("arn:aws:iam::111122223333:role/app-chat",)]
    assert read_context(con) == parse_context(CONTEXT, "other")


GRADED = """
id: det.test.graded
title: Model calls graded by network
description: A test rule that grades each model call by where it came from.
severity: high
severity_rationale: High from a hosting network, low from the owner's own networks.
mitre: [T1078.004]
sources: [cloudtrail]
group_by: [actor]
entities: {{principals: actor}}
runbook: Nothing to do; a test rule.
query: |
  SELECT e.actor, min(e.time) AS first_time, max(e.time) AS last_time, list(e.id) AS event_ids,
         e.actor || ' called from ' || c.net_kind AS summary,
         CASE WHEN c.internal THEN 'low' WHEN c.net_kind = 'hosting' THEN {top} ELSE 'medium' END
           AS alert_severity
  FROM events e JOIN ip_context c USING (src_ip)
  WHERE e.operation = 'InvokeModel'
  GROUP BY e.actor, c.net_kind, c.internal
tests:
  - name: office-is-low
    context: {{networks: [{{cidr: 198.51.100.0/24, kind: office}}]}}
    events:
      - {{time: "2025-03-05T10:00:00Z", operation: InvokeModel, actor: dev, src_ip: 198.51.100.7}}
    expect:
      - {{principals: [dev], severity: low}}
  - name: without-context-medium
    events:
      - {{time: "2025-03-05T10:00:00Z", operation: InvokeModel, actor: dev, src_ip: 198.51.100.7}}
    expect:
      - {{principals: [dev], severity: medium}}
  - name: no-model-call-quiet
    events:
      - {{time: "2025-03-05T10:00:00Z", operation: ListFoundationModels, actor: dev, src_ip: 198.51.100.7}}
    expect: []
"""


def test_graded_rule_sets_severity_per_hit_and_alert_takes_the_worst(tmp_path: Path) -> None:
    path = tmp_path / "graded.yaml"
    path.write_text(GRADED.format(top="'high'"), encoding="utf-8")
    (rule,) = load_detection_rules([path], builtin=False)
    assert [run_case(rule, i).ok for i in range(3)] == [True, True, True]
    assert "High from a hosting network" in rule.severity_rationale
    con = open_workspace(tmp_path / "ws.duckdb")
    _events(
        con,
        [
            ("dev", "203.0.113.9", None, "1"),
            ("dev", "45.77.1.2", 20473, "1"),
            ("ops", "203.0.113.9", None, "1"),
        ],
    )
    store_context(con, parse_context(CONTEXT, "test"))
    by_actor = {a.entities["principals"][0]: a.severity.value for a in detect(con, [rule]).alerts}
    assert by_actor == {"dev": "high", "ops": "low"}  # dev's office call is low, its hosting call high


def test_graded_hit_above_the_rules_severity_is_a_rule_error(tmp_path: Path) -> None:
    path = tmp_path / "graded.yaml"
    path.write_text(GRADED.format(top="'critical'"), encoding="utf-8")
    (rule,) = load_detection_rules([path], builtin=False)
    con = open_workspace(tmp_path / "ws.duckdb")
    _events(con, [("dev", "45.77.1.2", 20473, "1")])
    with pytest.raises(RuleError, match="above the rule's own 'high'"):
        detect(con, [rule])


def test_detect_context_flag_loads_the_file_and_bad_file_exits_2(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    f = _write(tmp_path / "context.yaml", CONTEXT)
    refused = rb("detect", "--workspace", str(ws), "--context", str(f), "-q", check=False)
    assert refused.returncode == 2  # detect reads a workspace, it does not create one
    assert "no workspace here" in refused.stderr
    assert not ws.exists()
    rb("context", "--workspace", str(ws), "--format", "json")  # a verb that creates one
    rb("detect", "--workspace", str(ws), "--context", str(f), "-q")
    assert json.loads(rb("context", "--workspace", str(ws), "--format", "json").stdout) == CONTEXT
    bad = _write(tmp_path / "bad.yaml", {"networks": [{"cidr": "nope", "kind": "office"}]})
    done = rb("detect", "--workspace", str(ws), "--context", str(bad), check=False)
    assert done.returncode == 2
    assert "bad.yaml" in done.stderr
    assert "Traceback" not in done.stderr
