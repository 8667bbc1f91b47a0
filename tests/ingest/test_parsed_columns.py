"""The events columns parsed at ingest (migration 10) hold the same values whether a parser filled
them from the record or the migration filled them from ``raw`` for rows stored before it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.workspace import PARSED_AT_INGEST, fill_parsed_columns, migrations, open_workspace
from tests.ingest.conftest import rows

COLUMNS = "request_length, response_length, guardrail, console"
RESOURCE = "/subscriptions/0c6a1d2e/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/ai-prod"


def _azure(i: int, props: object) -> dict[str, object]:
    return {
        "time": f"2025-03-04T00:0{i}:00Z",
        "resourceId": RESOURCE,
        "operationName": "ChatCompletions_Create",
        "category": "RequestResponse",
        "resultSignature": "200",
        "correlationId": f"c-{i}",
        "callerIpAddress": "198.51.100.***",
        "properties": props,
    }


def _bedrock(i: int, body: dict[str, object], output: dict[str, object]) -> dict[str, object]:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": f"2025-03-04T01:0{i}:00Z",
        "accountId": "111122223333",
        "identity": {"arn": "arn:aws:iam::111122223333:user/app"},
        "region": "us-east-1",
        "requestId": f"r-{i}",
        "operation": "InvokeModel",
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "input": {"inputContentType": "application/json", "inputBodyJson": body, "inputTokenCount": 10},
        "output": {"outputContentType": "application/json", "outputBodyJson": output, "outputTokenCount": 5},
    }


def _cloudtrail(i: int, console: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "eventVersion": "1.09",
        "eventTime": f"2025-03-04T02:0{i}:00Z",
        "eventSource": "bedrock.amazonaws.com",
        "eventName": "ListFoundationModels",
        "eventID": f"e-{i}",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/dev"},
        "recipientAccountId": "111122223333",
    }
    if console is not None:
        rec["sessionCredentialFromConsole"] = console
    return rec


def _write(folder: Path) -> list[Path]:
    azure = [
        _azure(1, {"requestLength": 24000, "responseLength": 0}),
        _azure(2, json.dumps({"requestLength": 71, "responseLength": 512})),  # properties as a string
        _azure(3, {"requestLength": "300.9", "responseLength": "inf"}),  # text numbers; no length
        _azure(4, {}),
    ]
    bedrock = [
        _bedrock(1, {"prompt": "hi"}, {"amazon-bedrock-guardrailAction": "INTERVENED", "content": []}),
        _bedrock(2, {"prompt": "hi", "guardrailConfig": {"guardrailIdentifier": "g1"}}, {"content": []}),
        _bedrock(3, {"prompt": "hi"}, {"stopReason": "guardrail_intervened"}),
        _bedrock(4, {"prompt": 'what does "guardrailConfig" do?'}, {"content": []}),  # quoted: none
    ]
    cloudtrail = [_cloudtrail(1, "true"), _cloudtrail(2, "false"), _cloudtrail(3, True), _cloudtrail(4, None)]
    paths = [folder / "azure.jsonl", folder / "bedrock.jsonl", folder / "cloudtrail.json"]
    paths[0].write_text("".join(json.dumps(r) + "\n" for r in azure))
    paths[1].write_text("".join(json.dumps(r) + "\n" for r in bedrock))
    paths[2].write_text(json.dumps({"Records": cloudtrail}))
    return paths


def _columns(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return rows(con, f"SELECT source_format, time, {COLUMNS} FROM events ORDER BY source_format, time")


def test_parsers_fill_the_columns(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "ws.duckdb")
    ingest(con, _write(tmp_path), IngestConfig(jobs=1))
    got = [r[2:] for r in _columns(con)]
    assert got == [
        (24000, 0, None, None),
        (71, 512, None, None),
        (300, None, None, None),
        (None, None, None, None),
        (None, None, "intervened", None),
        (None, None, "applied", None),
        (None, None, "intervened", None),
        (None, None, "none", None),
        (None, None, None, True),
        (None, None, None, False),
        (None, None, None, True),
        (None, None, None, False),
    ]


def test_migration_fills_what_the_parsers_fill(tmp_path: Path) -> None:
    """A workspace at version 9 with these rows (raw only) is migrated to the parsers' values."""
    parsed = open_workspace(tmp_path / "parsed.duckdb")
    ingest(parsed, _write(tmp_path), IngestConfig(jobs=1, keep_raw=True))  # the old rows hold raw
    want = _columns(parsed)
    old = duckdb.connect(str(tmp_path / "old.duckdb"))
    old.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, title VARCHAR, applied_at TIMESTAMPTZ)"
    )
    for v, title, sql in migrations():
        if v < PARSED_AT_INGEST:
            old.execute(sql)
            old.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [v, title])
    old.close()
    parsed.execute(f"ATTACH '{tmp_path / 'old.duckdb'}' AS old_ws")
    cols = [r[0] for r in parsed.execute("DESCRIBE old_ws.events").fetchall()]
    parsed.execute(f"INSERT INTO old_ws.events SELECT {', '.join(cols)} FROM events")
    parsed.execute("DETACH old_ws")
    parsed.close()
    migrated = open_workspace(tmp_path / "old.duckdb")
    assert _columns(migrated) == want
    # and the fill is idempotent: run again (as rule tests do), nothing changes
    fill_parsed_columns(migrated)
    assert _columns(migrated) == want
