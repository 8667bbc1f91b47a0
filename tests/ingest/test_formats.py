"""Every format, from real-shaped samples, mapped into events with the documented fields."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import zstandard

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.ingest.detect import classify
from ringbreaker.model import fingerprint
from tests.conftest import SHARED
from tests.ingest.conftest import DATA, rows

CLOUDTRAIL = SHARED / "datasets" / "telemetry" / "cloudtrail"


def one(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> tuple[object, ...]:
    got = rows(con, sql, *params)
    assert len(got) == 1, got
    return got[0]


@pytest.mark.parametrize(
    ("name", "fmt", "n"),
    [
        ("cloudtrail.ndjson", "cloudtrail", 3),
        ("bedrock-invocation.jsonl", "bedrock-invocation", 3),
        ("azure-diagnostics.json", "azure-diagnostics", 3),
        ("azure-activity.json", "azure-activity", 1),
        ("azure-activity-rest.json", "azure-activity", 2),
        ("litellm-spendlogs.jsonl", "litellm-spendlogs", 2),
        ("litellm-spendlogs.csv", "litellm-spendlogs", 2),
        ("openai-audit.json", "openai-audit", 3),
    ],
)
def test_each_format_is_detected_and_stored(
    ws: duckdb.DuckDBPyConnection, name: str, fmt: str, n: int
) -> None:
    report = ingest(ws, [DATA / name], IngestConfig(keep_raw=True))  # raw asserted below
    (f,) = report.files
    assert (f.format, f.read, f.stored, f.quarantined) == (fmt, n, n, 0)
    assert rows(ws, "SELECT count(*), min(source_format), max(source_format) FROM events") == [(n, fmt, fmt)]
    # raw keeps the original record as JSON
    assert rows(ws, "SELECT count(*) FROM events WHERE json_valid(raw) AND raw IS NOT NULL") == [(n,)]


def test_cloudtrail_fields_and_key_fingerprint(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "cloudtrail.ndjson"])
    akid = "AKIAIOSFODNN7EXAMPLE"
    got = one(
        ws,
        "SELECT time::VARCHAR, provider, service, category, status, error_code, actor, actor_type, account, "
        "key_id, key_fingerprint, src_ip, model, region, source_offset FROM events "
        "WHERE operation = 'InvokeModel'",
    )
    assert got == (
        "2024-07-12 09:13:05+00",
        "aws",
        "bedrock.amazonaws.com",
        "management",
        "failure",
        "ValidationException",
        "arn:aws:iam::123456789012:user/dev",
        "IAMUser",
        "123456789012",
        akid,
        fingerprint(akid),
        "203.0.113.10",
        "anthropic.claude-3-opus-20240229-v1:0",
        "us-east-1",
        2,
    )


def test_bedrock_prompts_tokens_and_identity(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "bedrock-invocation.jsonl"])
    got = rows(
        ws,
        "SELECT operation, actor_type, tokens_in, tokens_out, prompt FROM events ORDER BY source_offset",
    )
    assert got == [
        (
            "InvokeModel",
            "IAMUser",
            31,
            9,
            "You are a helpful assistant.\nSummarise the release notes.\nKeep it short.",
        ),
        ("Converse", "AssumedRole", 18, 2, "Answer in one word.\nWhat is the capital of France?"),
        ("InvokeModel", "IAMUser", 7, 17, "Write a haiku about logs."),
    ]


def test_azure_diagnostics_properties_object_or_string(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "azure-diagnostics.json"])
    got = rows(
        ws,
        "SELECT operation, status, error_code, model, api_version, src_ip, actor, actor_type, account, "
        "category FROM events ORDER BY source_offset",
    )
    sub = "12cabcb4-86e8-404f-a3d2-1dc9982f45ca"
    assert got == [
        ("ChatCompletions_Create", "success", None, "gpt-35-turbo", "2023-09-01-preview", "81.2.69.***",
         None, "api_key", sub, "data"),
        # properties given as a JSON string
        ("ImageGenerations_Create", "failure", "429", "dall-e-3", "2024-02-15-preview", "81.2.69.***",
         None, "api_key", sub, "data"),
        ("ListKey", "unknown", None, None, None, None, "b610ab05-ce06-4cc1-a6dd-174b9f80468a", "principal",
         sub, "audit"),
    ]  # fmt: skip


def test_azure_activity_export_and_rest_shapes(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "azure-activity.json", DATA / "azure-activity-rest.json"])
    got = rows(
        ws,
        "SELECT lower(operation), status, error_code, actor, actor_type, src_ip FROM events ORDER BY time",
    )
    assert got == [
        ("microsoft.cognitiveservices/accounts/listkeys/action", "success", None,
         "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "service_principal", "203.0.113.77"),
        ("microsoft.cognitiveservices/accounts/raipolicies/write", "success", None,
         "mallory@contoso.example", "user", "198.51.100.23"),
        ("microsoft.cognitiveservices/accounts/regeneratekey/action", "failure", "Forbidden",
         "mallory@contoso.example", "user", "198.51.100.23"),
    ]  # fmt: skip
    # the RAI policy body stays in raw for detection rules
    (body,) = one(
        ws,
        "SELECT raw->>'$.properties.requestbody' FROM events WHERE operation LIKE '%raiPolicies/write'",
    )
    assert json.loads(str(body))["properties"]["contentFilters"][0]["enabled"] is False


def test_litellm_jsonl_and_csv(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "litellm-spendlogs.jsonl", DATA / "litellm-spendlogs.csv"])
    got = rows(
        ws,
        "SELECT operation, status, key_id, key_fingerprint, end_user, src_ip, forwarded, prompt, tokens_in, "
        "account, user_agent FROM events ORDER BY time",
    )
    h = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    assert got == [
        ("acompletion", "success", h, h, "customer-17", "198.51.100.9", True,
         "Be brief.\nTranslate 'hello' to German.", 41, "team-a", "OpenAI/Python 1.35.3"),
        ("aimage_generation", "failure", "not-a-hash-key-label", None, None, "203.0.113.5", False, None, 0,
         None, "curl/8.5.0"),
        ("acompletion", "success", h, h, "proxy-user-42", "192.0.2.44", None, "Hello there", 100, "team-b",
         None),
        ("aembedding", "success", h, h, "bob", "192.0.2.44", None, None, 8, "team-b", None),
    ]  # fmt: skip


def test_openai_audit(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "openai-audit.json"])
    got = rows(
        ws,
        "SELECT time::VARCHAR, operation, status, actor, actor_type, key_id, src_ip, account "
        "FROM events ORDER BY time",
    )
    assert got == [
        ("2024-07-12 17:08:10+00", "api_key.created", "success", "admin@example.com", "session", "key_xyz789",
         "198.51.100.40", "proj_abc"),
        ("2024-07-12 17:09:50+00", "login.failed", "failure", "admin@example.com", "session", None,
         "203.0.113.66", None),
        ("2024-07-12 17:11:30+00", "project.updated", "success", "ops@example.com", "api_key", "key_admin01",
         None, "proj_abc"),
    ]  # fmt: skip


def test_openai_audit_jsonl(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    page = json.loads((DATA / "openai-audit.json").read_text())
    p = tmp_path / "audit.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in page["data"]))
    (f,) = ingest(ws, [p]).files
    assert (f.format, f.shape, f.stored) == ("openai-audit", "ndjson", 3)


@pytest.mark.parametrize("shape", ["records", "array", "ndjson"])
@pytest.mark.parametrize("compression", ["plain", "gzip", "zstd"])
def test_cloudtrail_shapes_and_compressions(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path, shape: str, compression: str
) -> None:
    recs = [json.loads(line) for line in (DATA / "cloudtrail.ndjson").read_text().splitlines()]
    if shape == "records":
        body = json.dumps({"Records": recs}).encode()
    elif shape == "array":
        body = json.dumps(recs, indent=3).encode()  # pretty-printed, as the shared recordings
    else:
        body = "".join(json.dumps(r) + "\n" for r in recs).encode()
    if compression == "gzip":
        body = gzip.compress(body)
    elif compression == "zstd":
        body = zstandard.ZstdCompressor().compress(body)
    p = tmp_path / "trail.log"  # the name says nothing: detection is by content
    p.write_bytes(body)
    (f,) = ingest(ws, [p]).files
    assert (f.format, f.compression, f.shape, f.stored, f.quarantined) == (
        "cloudtrail",
        compression,
        shape,
        3,
        0,
    )
    # the same events whatever the container: ids are stable across shapes
    ids = {r[0] for r in rows(ws, "SELECT id FROM events")}
    assert len(ids) == 3


def test_same_event_in_two_shapes_is_stored_once(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    recs = [json.loads(line) for line in (DATA / "cloudtrail.ndjson").read_text().splitlines()]
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    (tmp_path / "b.json").write_text(json.dumps(recs, indent=2))
    report = ingest(ws, [tmp_path])
    assert [(f.stored, f.duplicates) for f in report.files] == [(3, 0), (0, 3)]


def test_format_hint_overrides_detection(ws: duckdb.DuckDBPyConnection) -> None:
    (f,) = ingest(ws, [DATA / "cloudtrail.ndjson"], IngestConfig(hint="cloudtrail")).files
    assert (f.format, f.why, f.stored) == ("cloudtrail", "--format-hint", 3)


def test_classify_ignores_unrelated_json() -> None:
    assert classify({"name": "x", "value": 1}) is None
    assert classify([1, 2]) is None


@pytest.mark.skipif(
    not CLOUDTRAIL.is_dir(), reason=f"shared CloudTrail recordings not present at {CLOUDTRAIL}"
)
def test_all_shared_cloudtrail_recordings(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    files = sorted(CLOUDTRAIL.glob("*.json"))
    assert len(files) == 13
    expected = sum(len(json.loads(f.read_text())) for f in files)
    copy = tmp_path / "ct"
    shutil.copytree(CLOUDTRAIL, copy)
    report = ingest(ws, [copy])
    assert all(f.format == "cloudtrail" for f in report.files)
    assert report.total("read") == report.total("stored") == expected
    assert report.total("quarantined") == 0
    assert rows(ws, "SELECT count(*) FROM events") == [(expected,)]
    assert rows(ws, "SELECT count(*) FROM quarantine") == [(0,)]
    # every access key id fingerprints exactly as `scan` would
    for akid, fp in rows(ws, "SELECT DISTINCT key_id, key_fingerprint FROM events"):
        assert fp == fingerprint(str(akid))


def test_mapped_records_with_differing_fields_become_full_columns() -> None:
    """A mapper may leave a field out of some records: its column holds None there, not a shift."""
    from ringbreaker.ingest.formats import map_dicts

    raws = [b'{"a": 1, "b": 2}', b'{"a": 3}', b'{"a": 5, "b": 6}']
    parsed = map_dicts(raws, [1, 2, 3], dict)
    assert (list(parsed.columns["a"]), list(parsed.columns["b"])) == ([1, 3, 5], [2, None, 6])
    same = map_dicts(raws[::2], [1, 3], dict)
    assert (list(same.columns["a"]), list(same.columns["b"])) == ([1, 5], [2, 6])
    swapped = map_dicts([b'{"a": 1, "b": 2}', b'{"c": 3, "a": 4}'], [1, 2], dict)
    assert {k: list(v) for k, v in swapped.columns.items() if k in "abc"} == {
        "a": [1, 4], "b": [2, None], "c": [None, 3]
    }  # fmt: skip
