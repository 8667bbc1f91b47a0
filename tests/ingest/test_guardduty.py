"""GuardDuty findings: EventBridge events, S3 JSONL exports and arrays mapped into events."""

from __future__ import annotations

import duckdb

from ringbreaker.ingest import ingest
from ringbreaker.ingest.formats.guardduty import severity_label
from ringbreaker.model import fingerprint
from tests.ingest.conftest import DATA, rows


def test_findings_map_type_key_address_and_severity(ws: duckdb.DuckDBPyConnection) -> None:
    report = ingest(ws, [DATA / "guardduty.jsonl"])
    (f,) = report.files
    assert (f.format, f.read, f.stored, f.quarantined) == ("guardduty", 3, 3, 0)
    got = rows(
        ws,
        "SELECT time::VARCHAR, provider, service, category, status, error_code, actor, actor_type, account, "
        "key_id, key_fingerprint, src_ip, src_asn, src_org, src_country, user_agent, region, resource "
        "FROM events WHERE operation = 'Impact:IAMUser/AnomalousModelInvocation'",
    )
    assert got == [
        (
            "2025-03-07 03:02:55+00",
            "aws",
            "guardduty.amazonaws.com",
            "finding",
            "unknown",
            "high",
            "svc-reports",
            "IAMUser",
            "111122223333",
            "AKIAIOSFODNN7EXAMPLE",
            fingerprint("AKIAIOSFODNN7EXAMPLE"),  # joins CloudTrail's and scan's fingerprint
            "198.51.100.23",
            64500,
            "Example Hosting",
            "NL",
            "aws-sdk-js/3.540.0 ua/2.0 os/linux lang/js md/nodejs#20.11.1",
            "us-east-1",
            "arn:aws:guardduty:us-east-1:111122223333:detector/12abc34d567e8fa901bc2d34e56789f0/finding/"
            "a4cb1e2f9d0c4f6e8b7a5d3c2e1f0a9b",
        )
    ]
    # raw is the finding itself, whether it came wrapped in an EventBridge event or not
    assert rows(ws, "SELECT count(*) FROM events WHERE raw->>'$.schemaVersion' = '2.0'") == [(3,)]
    assert rows(ws, "SELECT count(*) FROM events WHERE raw->>'$.detail-type' IS NOT NULL") == [(0,)]
    # an IPv6 caller, a medium severity, the API call's own error code left in raw
    assert rows(
        ws,
        "SELECT src_ip, error_code, raw->>'$.service.action.awsApiCallAction.errorCode' FROM events "
        "WHERE actor_type = 'AssumedRole'",
    ) == [("2001:db8::17", "medium", "AccessDenied")]


def test_one_finding_from_an_array_and_from_eventbridge_has_one_id(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "guardduty.jsonl"])
    report = ingest(ws, [DATA / "guardduty-array.json"])
    (f,) = report.files
    assert (f.format, f.read, f.stored, f.duplicates) == ("guardduty", 2, 0, 2)


def test_severity_bands() -> None:
    assert [severity_label(v) for v in (1, 3.9, 4, 6.9, 7, 8.9, 9, 10)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    assert severity_label("High") == "high"
    assert severity_label(None) is None
    assert severity_label("n/a") is None
