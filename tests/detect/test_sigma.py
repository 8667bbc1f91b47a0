"""`ringbreaker rules import-sigma` on real SigmaHQ rules (vendored under sigma/, DRL 1.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ringbreaker.detect.sigma import LOGSOURCES, _mapping, convert_file
from ringbreaker.ingest import FORMATS
from ringbreaker.rules.detections import load_detection_rules
from tests.conftest import SHARED
from tests.detect.conftest import rb

SIGMA = Path(__file__).parent / "sigma"
CLOUDTRAIL = SHARED / "datasets" / "telemetry" / "cloudtrail"
CORRELATION = """
title: Many Bedrock Denials
id: 9b4c1d7e-1f5a-4c55-9d8e-2a1f0c3b7e11
correlation:
    type: event_count
    rules: [75d1c809-e63c-42c0-bb75-1294168c3bf8]
    group-by: [userIdentity.arn]
    timespan: 1h
    condition: {gte: 10}
level: high
"""


def test_converts_cloudtrail_and_azure_rules_and_reports_the_rest(tmp_path: Path) -> None:
    base = (SIGMA / "aws_bedrock_model_invocation_logging_disabled.yml").read_text()
    (tmp_path / "corr.yml").write_text(base + "---" + CORRELATION)  # a correlation needs its base rule
    proc = rb(
        "rules",
        "import-sigma",
        *map(str, sorted(SIGMA.glob("*.yml"))),
        str(tmp_path / "corr.yml"),
        "-o",
        str(tmp_path / "out"),
        check=False,
    )
    assert proc.returncode == 1  # some rules are unsupported
    lines = proc.stdout.splitlines()
    converted = [line for line in lines if line.startswith("converted:")]
    assert len(converted) == 4, proc.stdout  # the correlation's base rule only feeds the correlation
    assert any("keyword (full-text) search" in line for line in lines if line.startswith("unsupported:"))
    assert any(line.startswith("unsupported: corr.yml") and "correlation" in line for line in lines)
    rules = load_detection_rules([tmp_path / "out"], builtin=False)
    assert {r.sources[0] for r in rules} == {"cloudtrail", "azure-activity"}
    check = rb("rules", "check", "--kind", "detection", "--rules", str(tmp_path / "out"), check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_field_mapping_and_case_insensitivity(tmp_path: Path) -> None:
    [conv] = convert_file(SIGMA / "aws_cloudtrail_bedrock_put_use_case_for_model_access.yml")
    assert conv.rule is not None
    q = conv.rule["query"]
    assert "operation=" in q
    assert "key_id ILIKE 'AKIA%'" in q
    assert "COLLATE NOCASE" in q
    assert conv.rule["mitre"] == ["T1578.005", "TA0005"]
    pos = conv.rule["tests"][0]["events"][0]
    assert pos["key_id"].startswith("AKIA")
    assert pos["service"] == "bedrock.amazonaws.com"


def test_unmapped_fields_read_the_raw_record(tmp_path: Path) -> None:
    rule = tmp_path / "r.yml"
    rule.write_text(
        (SIGMA / "aws_cloudtrail_disable_logging.yml")
        .read_text()
        .replace(
            "        eventSource: cloudtrail.amazonaws.com\n",
            "        eventSource: cloudtrail.amazonaws.com\n        requestParameters.name|contains: prod\n",
        )
    )
    [conv] = convert_file(rule)
    assert conv.rule is not None
    assert "(raw->>'$.requestParameters.name') ILIKE '%prod%'" in conv.rule["query"]
    assert conv.rule["tests"][0]["events"][0]["raw"] == {
        "requestParameters": {"name": "XprodX"}
    }  # wildcards filled


@pytest.mark.skipif(
    not CLOUDTRAIL.is_dir(), reason=f"shared CloudTrail recordings not present at {CLOUDTRAIL}"
)
def test_converted_rule_fires_on_real_cloudtrail(tmp_path: Path) -> None:
    ws = tmp_path / "ct.duckdb"
    rb("ingest", str(CLOUDTRAIL), "--workspace", str(ws))
    rb(
        "rules",
        "import-sigma",
        str(SIGMA / "aws_cloudtrail_disable_logging.yml"),
        "-o",
        str(tmp_path / "out"),
    )
    proc = rb("detect", "--workspace", str(ws), "--rules", str(tmp_path / "out"), "--format", "jsonl")
    alerts: list[dict[str, Any]] = [json.loads(x) for x in proc.stdout.splitlines()]
    sigma = [a for a in alerts if a["rule"].startswith("det.sigma.")]
    assert sigma, "StopLogging/DeleteTrail recordings should fire the converted rule"
    assert all(
        ("StopLogging" in a["summary"]) or ("DeleteTrail" in a["summary"]) or ("UpdateTrail" in a["summary"])
        for a in sigma
    )
    assert not [a for a in alerts if not a["rule"].startswith("det.sigma.")], "built-in LLM rules stay quiet"


def test_sigma_field_names_come_from_the_format_registry() -> None:
    assert set(LOGSOURCES.values()) == {"cloudtrail", "azure-activity", "gcp-audit"}
    for logsource, name in LOGSOURCES.items():
        fmt = FORMATS[name]
        assert fmt.sigma == logsource
        names = set(fmt.fields) | set(fmt.aliases)
        mapping, problems = _mapping(name, names | {"requestParameters.bucketName"})
        assert not problems
        assert mapping.pop("requestParameters.bucketName").startswith("rbraw__")  # not mapped: raw
        assert mapping == {f: fmt.fields[fmt.aliases.get(f, f)] for f in names}
