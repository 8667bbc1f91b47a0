"""Inventory key ids join a leaked key to abuse that the logs name only by id: real files, a real
workspace and the real CLI, with scan and ingest in either order."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ringbreaker.model import fingerprint
from ringbreaker.workspace.aliases import read_aliases
from tests.conftest import rb

ADMIN = "sk-admin-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}"
LEAK = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)  # the leaked file's mtime: its leak time
ABUSE = int(datetime(2025, 3, 5, 11, 30, tzinfo=UTC).timestamp())
SUB = (
    "/SUBSCRIPTIONS/12CABCB4-86E8-404F-A3D2-1DC9982F45CA/RESOURCEGROUPS/RG-AI"
    "/PROVIDERS/MICROSOFT.COGNITIVESERVICES"
)


def _leak(code: Path, name: str, text: str) -> None:
    code.mkdir(exist_ok=True)
    (code / name).write_text(text)
    os.utime(code / name, (LEAK.timestamp(), LEAK.timestamp()))


def _run(order: str, ws: Path, code: Path, logs: Path, inv: Path) -> None:
    scan = ("scan", str(code), "--workspace", str(ws), "--inventory", str(inv), "-q")
    ingest = ("ingest", str(logs), "--workspace", str(ws), "-q")
    for step in (scan, ingest) if order == "scan-first" else (ingest, scan):
        out = rb(*step)
        assert out.returncode in (0, 1), out.stderr  # scan exits 1: it found the leak
    assert rb("detect", "--workspace", str(ws), "-q").returncode in (0, 1)


def _scan_json(code: Path, ws: Path, inv: Path) -> tuple[dict[str, object], str]:
    """``scan --workspace --inventory --format json``: its summary and its stderr."""
    out = rb("scan", str(code), "--workspace", str(ws), "--inventory", str(inv), "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    summary: dict[str, object] = json.loads(out.stdout)["summary"]
    return summary, out.stderr


def _alerts(ws: Path, rule: str) -> list[list[str]]:
    con = duckdb.connect(str(ws), read_only=True)
    try:
        return [
            list(r[0])
            for r in con.execute("SELECT key_fingerprints FROM alerts WHERE rule = ?", [rule]).fetchall()
        ]
    finally:
        con.close()


def _events(ws: Path) -> dict[str, tuple[str | None, str | None]]:
    """operation (or source record id) -> (key_fingerprint, key_via)."""
    con = duckdb.connect(str(ws), read_only=True)
    try:
        rows = con.execute("SELECT raw->>'$.id', key_fingerprint, key_via FROM events").fetchall()
    finally:
        con.close()
    return {str(i): (f, v) for i, f, v in rows}


def _audit(kid: str, new_kid: str) -> str:
    """An OpenAI organisation audit log page (the Admin API's shape): the stolen admin key mints a
    key and a project; a signed-in user's own key creation is not the admin key's doing."""
    actor = {
        "type": "api_key",
        "api_key": {"id": kid, "type": "user", "user": {"id": "user-a1", "email": "ops@example.com"}},
    }
    session = {
        "type": "session",
        "session": {
            "user": {"id": "user-b2", "email": "kim@example.com"},
            "ip_address": "198.51.100.40",
            "user_agent": "Mozilla/5.0",
        },
    }
    data = [
        {
            "id": "audit_log-1",
            "type": "api_key.created",
            "effective_at": ABUSE,
            "actor": actor,
            "api_key.created": {"id": new_kid, "data": {"scopes": ["/v1/*"]}},
        },
        {
            "id": "audit_log-2",
            "type": "project.created",
            "effective_at": ABUSE + 95,
            "actor": actor,
            "project.created": {"id": "proj_x1", "data": {"name": "default-2"}},
        },
        {
            "id": "audit_log-3",
            "type": "api_key.created",
            "effective_at": ABUSE + 300,
            "actor": session,
            "api_key.created": {"id": "key_ownkey0001", "data": {"scopes": ["api.model.request"]}},
        },
    ]
    return json.dumps({"object": "list", "data": data, "has_more": False})


@pytest.mark.parametrize("order", ["scan-first", "ingest-first"])
def test_openai_admin_key_joins_its_leak(tmp_path: Path, keygen: Callable[[str], str], order: str) -> None:
    admin, kid, new_kid = keygen(ADMIN), keygen("key_{{alnum:16}}"), keygen("key_{{alnum:16}}")
    fp = fingerprint(admin)
    _leak(tmp_path / "code", "ops.py", f'OPENAI_ADMIN_KEY = "{admin}"\n')
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "audit.json").write_text(_audit(kid, new_kid))
    inv = tmp_path / "keys.txt"
    inv.write_text(f"OPENAI_ADMIN_KEY={admin} openai-key-id={kid}\n")
    ws = tmp_path / "ws.duckdb"
    _run(order, ws, tmp_path / "code", tmp_path / "logs", inv)

    events = _events(ws)
    assert events["audit_log-1"] == (fp, "openai-key-id")  # the caller's key, not the key it made
    assert events["audit_log-2"] == (fp, "openai-key-id")
    assert events["audit_log-3"] == (None, None)  # a signed-in user, not the key
    con = duckdb.connect(str(ws), read_only=True)
    finding = con.execute("SELECT fingerprint, owned FROM findings").fetchall()
    con.close()
    assert finding == [(fp, True)]
    assert _alerts(ws, "det.openai.admin-key-creates-credentials") == [[fp]]  # the leak's fingerprint

    # The owner drops the id from the inventory: the next scan with that file undoes the join.
    inv.write_text(f"{fp}\n")
    assert _scan_json(tmp_path / "code", ws, inv)[0]["key_aliases"] == 0
    assert _events(ws)["audit_log-1"] == (None, None)


def _diagnostics(resource: str, t0: int) -> str:
    """Azure OpenAI diagnostics (RequestResponse): two key-authenticated calls and one by an Entra
    principal, which is not a key's doing."""

    def rec(n: int, object_id: str) -> dict[str, object]:
        t = datetime.fromtimestamp(t0 + 60 * n, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        props = {
            "apiName": "Azure OpenAI API version 2024-02-01",
            "requestLength": 128,
            "responseLength": 900,
            "objectId": object_id,
            "modelDeploymentName": "gpt-4o",
            "modelName": "gpt-4o",
        }
        return {
            "time": t,
            "resourceId": resource,
            "category": "RequestResponse",
            "operationName": "ChatCompletions_Create",
            "callerIpAddress": "81.2.69.***",
            "correlationId": f"c0ffee00-0000-4000-8000-00000000000{n}",
            "resultSignature": "200",
            "durationMs": 900,
            "location": "eastus",
            "properties": props,
        }

    return json.dumps({"records": [rec(1, ""), rec(2, ""), rec(3, "9f0c2a55-1111-4222-8333-944455556666")]})


@pytest.mark.parametrize("order", ["scan-first", "ingest-first"])
def test_azure_resource_alias_joins_its_leak(
    tmp_path: Path, keygen: Callable[[str], str], order: str
) -> None:
    key = keygen("{{hex:32}}")
    fp = fingerprint(key)
    _leak(
        tmp_path / "code", "settings.env", f"AZURE_OPENAI_API_KEY={key}\n"
    )  # no endpoint: no findings.resource
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "diag.json").write_text(_diagnostics(f"{SUB}/ACCOUNTS/CONTOSO-OPENAI", ABUSE))
    inv = tmp_path / "keys.txt"
    inv.write_text(f"{fp} azure-resource=https://contoso-openai.openai.azure.com/\n")
    ws = tmp_path / "ws.duckdb"
    _run(order, ws, tmp_path / "code", tmp_path / "logs", inv)

    con = duckdb.connect(str(ws), read_only=True)
    rows = con.execute("SELECT actor_type, key_fingerprint, key_via FROM events ORDER BY time").fetchall()
    assert con.execute("SELECT fingerprint, resource FROM findings").fetchall() == [(fp, None)]
    con.close()
    assert rows == [("api_key", fp, "azure-resource")] * 2 + [("principal", None, None)]
    assert _alerts(ws, "det.leaked-key.use") == [[fp]]  # the leak joins its first use, 90 min later


def test_two_keys_under_one_resource_join_neither(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    k1, k2 = keygen("{{hex:32}}"), keygen("{{hex:32}}")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "diag.json").write_text(_diagnostics(f"{SUB}/ACCOUNTS/RES1", ABUSE))
    (tmp_path / "code").mkdir()
    inv = tmp_path / "keys.txt"
    inv.write_text(f"{k1} azure-resource=res1\n{k2} azure-resource=res1\n")
    ws = tmp_path / "ws.duckdb"
    assert rb("ingest", str(tmp_path / "logs"), "--workspace", str(ws), "-q").returncode == 0
    summary, err = _scan_json(tmp_path / "code", ws, inv)
    assert (summary["key_aliases"], summary["events_joined"]) == (2, 0)
    assert summary["ambiguous_aliases"] == ["azure-resource res1"]
    assert "not joined, naming several keys: azure-resource res1" in " ".join(err.split())
    assert {v for _, v in _events(ws).values()} == {None}
    con = duckdb.connect(str(ws), read_only=True)
    stored = read_aliases(con)
    con.close()
    assert {(a.kind, a.alias, a.fingerprint, a.source) for a in stored} == {
        ("azure-resource", "res1", fingerprint(k), str(inv.resolve())) for k in (k1, k2)
    }


def _cloudtrail(arn: str, keys: list[tuple[str, bool]]) -> str:
    """CloudTrail records of one IAM user: one per (access key id, console session)."""
    account = arn.split(":")[4]
    recs = [
        {
            "eventVersion": "1.09",
            "eventTime": f"2025-03-05T11:3{n}:00Z",
            "eventSource": "bedrock.amazonaws.com",
            "eventName": "InvokeModel",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "Boto3/1.34.144",
            "eventID": f"5e0a1c52-0000-4000-8000-00000000000{n}",
            "requestParameters": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
            "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": account, "accessKeyId": key},
            "recipientAccountId": account,
            "eventCategory": "Management",
            "managementEvent": True,
            **({"sessionCredentialFromConsole": "true"} if console else {}),
        }
        for n, (key, console) in enumerate(keys)
    ]
    return json.dumps({"Records": recs})


def test_aws_principal_joins_temporary_keys_only(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    """Calls with an ASIA key derived from the leaked AKIA one name the user; the user's own other
    long-term key and its console sessions keep what they name."""
    akia, other = keygen("AKIA{{b32:16}}"), keygen("AKIA{{b32:16}}")
    asia, console = keygen("ASIA{{b32:16}}"), keygen("ASIA{{b32:16}}")
    arn = "arn:aws:iam::111122223333:user/svc-batch"
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "ct.json").write_text(
        _cloudtrail(arn, [(asia, False), (other, False), (console, True)])
    )
    (tmp_path / "code").mkdir()
    inv = tmp_path / "keys.txt"
    inv.write_text(f"{akia} aws-principal={arn}\n")
    ws = tmp_path / "ws.duckdb"
    assert _scan_json(tmp_path / "code", ws, inv)[0]["key_aliases"] == 1
    out = rb("ingest", str(tmp_path / "logs"), "--workspace", str(ws), "--format", "json", "-q")
    assert json.loads(out.stdout)["keys_joined"] == 1
    con = duckdb.connect(str(ws), read_only=True)
    rows = dict(con.execute("SELECT key_id, (key_fingerprint, key_via) FROM events").fetchall())
    con.close()
    assert rows == {
        asia: (fingerprint(akia), "aws-principal"),
        other: (fingerprint(other), None),
        console: (fingerprint(console), None),
    }
    inv.write_text(f"{akia}\n")  # without the principal the temporary key gets its own fingerprint back
    assert _scan_json(tmp_path / "code", ws, inv)[0]["key_aliases"] == 0
    con = duckdb.connect(str(ws), read_only=True)
    assert con.execute("SELECT key_fingerprint, key_via FROM events WHERE key_id = ?", [asia]).fetchall() == [
        (fingerprint(asia), None)
    ]
    con.close()


def test_a_bad_inventory_line_stops_the_scan(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    key = keygen(ADMIN)
    (tmp_path / "code").mkdir()
    inv = tmp_path / "keys.txt"
    inv.write_text(f"{key} openai-key-id=sk-wrong\n")
    ws = tmp_path / "ws.duckdb"
    out = rb("scan", str(tmp_path / "code"), "--workspace", str(ws), "--inventory", str(inv))
    assert out.returncode == 2
    assert f"{inv}:1: openai-key-id: expected an OpenAI key id" in out.stderr
    assert key not in out.stderr + out.stdout
    assert not ws.exists()  # nothing was scanned or stored


def test_a_later_ingest_joins_its_new_events(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    """After an ingest only the rows it stored are looked at; they join like the earlier ones."""
    key = keygen("{{hex:32}}")
    for day, name in ((0, "mon"), (1, "tue")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "diag.json").write_text(_diagnostics(f"{SUB}/ACCOUNTS/RES1", ABUSE + day * 86400))
    (tmp_path / "code").mkdir()
    inv = tmp_path / "keys.txt"
    inv.write_text(f"{key} azure-resource=res1\n")
    ws = tmp_path / "ws.duckdb"
    assert rb("ingest", str(tmp_path / "mon"), "--workspace", str(ws), "-q").returncode == 0
    assert _scan_json(tmp_path / "code", ws, inv)[0]["events_joined"] == 2
    out = rb("ingest", str(tmp_path / "tue"), "--workspace", str(ws), "--format", "json", "-q")
    assert json.loads(out.stdout)["keys_joined"] == 2  # Tuesday's two key calls, not Monday's again
    con = duckdb.connect(str(ws), read_only=True)
    joined = con.execute(
        "SELECT count(*) FROM events WHERE key_fingerprint = ?", [fingerprint(key)]
    ).fetchone()
    con.close()
    assert joined == (4,)
