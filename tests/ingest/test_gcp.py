"""Google Cloud Audit Logs for Vertex AI: a sink's JSONL and gcloud's JSON array mapped into events,
and a leaked service-account key file joined to its use by the key id's fingerprint."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import duckdb

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.model import fingerprint
from tests.ingest.conftest import DATA, rows

KEY = "3f1c0e9a7b2d4c6e8f0a1b2c3d4e5f60718293a4"  # the fixture's service-account key id
SA = "vertex-batch@ringbreaker-demo.iam.gserviceaccount.com"
GEN = "google.cloud.aiplatform.v1.PredictionService.GenerateContent"


def test_sink_export_maps_method_principal_key_caller_model_and_region(ws: duckdb.DuckDBPyConnection) -> None:
    (f,) = ingest(ws, [DATA / "gcp-audit.jsonl"], IngestConfig(keep_raw=True)).files  # raw read below
    assert (f.format, f.shape, f.read, f.stored, f.quarantined) == ("gcp-audit", "ndjson", 5, 5, 0)
    got = rows(
        ws,
        "SELECT time::VARCHAR, provider, service, operation, category, status, error_code, actor, "
        "actor_type, "
        "account, key_id, key_fingerprint, src_ip, user_agent, model, region, api_version, source_format "
        "FROM events WHERE operation = ?",
        GEN,
    )
    assert got == [
        (
            "2025-05-06 05:52:00.360468+00",
            "gcp",
            "aiplatform.googleapis.com",
            GEN,
            "data",
            "success",
            None,
            SA,
            "service_account",
            "ringbreaker-demo",
            KEY,
            fingerprint(KEY),
            "203.0.113.24",
            "google-genai-sdk/1.9.0 gl-python/3.12.3,gzip(gfe)",
            "gemini-2.0-flash-001",
            "us-central1",
            "v1",
            "gcp-audit",
        )
    ]
    # status.code 8 is a failure named after the gRPC code (quota: the 429 of Vertex AI)
    assert rows(
        ws, "SELECT status, error_code FROM events WHERE operation LIKE '%StreamGenerateContent'"
    ) == [("failure", "RESOURCE_EXHAUSTED")]
    # a person, no key; the model from request.endpoint; the region from the resource name
    assert rows(
        ws, "SELECT actor, actor_type, key_id, model, region FROM events WHERE operation LIKE '%CountTokens'"
    ) == [("analyst@example.com", "user", None, "gemini-2.0-flash-exp", "europe-west4")]
    # an internal caller ("private") is no address; the endpoint resource's location label is the region
    assert rows(
        ws, "SELECT src_ip, model, region, resource FROM events WHERE operation LIKE '%.Predict'"
    ) == [
        (
            None,
            None,
            "us-central1",
            "projects/123456789012/locations/us-central1/endpoints/4567890123456789012",
        )
    ]
    # Admin Activity: management
    assert rows(ws, "SELECT category, actor FROM events WHERE operation LIKE '%DeployModel'") == [
        ("management", "analyst@example.com")
    ]
    assert rows(
        ws,
        "SELECT count(*) FROM events WHERE raw->>'$.protoPayload.serviceName' = 'aiplatform.googleapis.com'",
    ) == [(5,)]


def test_gcloud_array_holds_the_same_entries_with_the_same_ids(ws: duckdb.DuckDBPyConnection) -> None:
    ingest(ws, [DATA / "gcp-audit.jsonl"])
    (f,) = ingest(ws, [DATA / "gcp-audit-gcloud.json"]).files
    # gcloud prints the same LogEntries (pretty, keys sorted, newest first): logName + insertId agree
    assert (f.format, f.shape, f.read, f.stored, f.duplicates) == ("gcp-audit", "array", 3, 0, 3)
    assert rows(ws, "SELECT count(*), count(DISTINCT id) FROM events") == [(5, 5)]


def test_entry_without_method_is_quarantined_alone(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = (DATA / "gcp-audit.jsonl").read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["protoPayload"]["methodName"]
    path = tmp_path / "sink.json"
    path.write_text("\n".join([lines[0], json.dumps(bad), *lines[2:]]) + "\n")
    (f,) = ingest(ws, [path]).files
    assert (f.format, f.stored, f.quarantined) == ("gcp-audit", 4, 1)
    assert rows(ws, "SELECT source_offset, reason FROM quarantine") == [
        (2, "cannot map record: KeyError: \"missing required field 'methodName'\"")
    ]


def test_leaked_service_account_key_joins_its_vertex_use(tmp_path: Path) -> None:
    from ringbreaker.scan import ScanConfig, scan
    from ringbreaker.workspace import open_workspace

    key_id = secrets.token_hex(20)  # a fresh key id: the leak and the audit log name the same one
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "sa.json").write_text(
        json.dumps(
            {"type": "service_account", "project_id": "ringbreaker-demo", "private_key_id": key_id}, indent=2
        )
    )
    entry = json.loads((DATA / "gcp-audit.jsonl").read_text().splitlines()[0])
    auth = entry["protoPayload"]["authenticationInfo"]
    auth["serviceAccountKeyName"] = auth["serviceAccountKeyName"].replace(KEY, key_id)
    log = tmp_path / "logs" / "audit.json"
    log.parent.mkdir()
    log.write_text(json.dumps(entry) + "\n")
    result = scan([repo], ScanConfig(), workspace=tmp_path / "ws.duckdb")
    assert [f.fingerprint for f in result.findings] == [fingerprint(key_id)]
    con = open_workspace(tmp_path / "ws.duckdb")
    try:
        ingest(con, [log])
        assert rows(
            con, "SELECT e.operation FROM events e JOIN findings f ON f.fingerprint = e.key_fingerprint"
        ) == [(GEN,)]
    finally:
        con.close()
