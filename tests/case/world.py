"""Test worlds for `case`: a simulated world scanned and ingested into a real workspace, with the
attribute tables (crews, crew_members, crew_keys, timeline) written from the world's truth.json.

The real `attribute` stage derives those tables from the graph; here they come from the ground
truth so the case renderer is tested on exactly the planted ring, with real event ids as evidence.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.workspace import open_workspace

# The columns these tests fill (the tables have more, which stay NULL).
CREWS = "crews (id, name, first_time, last_time, summary)"
MEMBERS = "crew_members (crew_id, kind, entity, role, confidence, evidence, evidence_ids)"

ENABLE_OPS = (
    "PutFoundationModelEntitlement",
    "CreateFoundationModelAgreement",
    "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DEPLOYMENTS/WRITE",
)
TAMPER_OPS = (
    "DeleteModelInvocationLoggingConfiguration",
    "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/WRITE",
)
USE_OPS = ("InvokeModel", "InvokeModelWithResponseStream", "acompletion", "ChatCompletions_Create")


def ringbreaker(*args: str) -> None:
    """Run the real CLI in a subprocess, as a user would (exit 1 means "found something": fine here)."""
    p = subprocess.run(
        [sys.executable, "-m", "ringbreaker", *args], capture_output=True, text=True, check=False
    )
    assert p.returncode in (0, 1), p.stderr


def make_world(tmp: Path, seed: int = 1) -> tuple[Path, dict[str, Any]]:
    """simulate -> scan --history -> ingest -> attribute tables from truth; return (workspace, truth)."""
    world, ws = tmp / "world", tmp / "ws.duckdb"
    ringbreaker("simulate", str(world), "--seed", str(seed), "--scale", "0.5")
    ringbreaker("scan", "--history", str(world / "public-code"), "--workspace", str(ws))
    ringbreaker("ingest", str(world), "--workspace", str(ws))
    truth = json.loads((world / "truth.json").read_text())
    con = open_workspace(ws)
    try:
        write_truth_crews(con, truth)
    finally:
        con.close()
    return ws, truth


def _ids(con: duckdb.DuckDBPyConnection, where: str, params: list[Any], n: int = 5) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"SELECT id FROM events WHERE {where} ORDER BY time, id LIMIT {n}", params
        ).fetchall()
    ]


def write_truth_crews(con: duckdb.DuckDBPyConnection, truth: dict[str, Any]) -> None:
    """Fill crews, crew_members, crew_keys and timeline from truth.json (what attribute should find)."""
    orgs = {o["id"]: o for o in truth["orgs"]}
    for crew in truth["crews"]:
        cid = crew["id"]
        ips = [m["value"] for m in crew["members"] if m["kind"] == "ip"]
        masked = sorted({ip.rsplit(".", 1)[0] + ".***" for ip in ips})
        at_crew = "(list_contains(?, src_ip) OR list_contains(?, src_ip))"
        tool = next(m["value"] for m in crew["members"] if m["kind"] == "tool")
        span = con.execute(
            f"SELECT min(time)::VARCHAR, max(time)::VARCHAR FROM events WHERE {at_crew}", [ips, masked]
        ).fetchone()
        assert span is not None
        con.execute(
            f"INSERT INTO {CREWS} VALUES (?, ?, CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), ?)",
            [cid, tool, span[0], span[1], f"ring running {tool} behind {len(ips)} proxy IPs"],
        )
        for m in crew["members"]:
            col = {"ip": "src_ip", "end_user": "end_user", "tool": "user_agent", "account": "actor"}.get(
                m["kind"]
            )
            ev = _ids(con, f"{col} = ?", [m["value"]]) if col else []
            con.execute(
                f"INSERT INTO {MEMBERS} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    cid,
                    m["kind"],
                    m["value"],
                    m["role"],
                    0.9,
                    f"{m['kind']} seen as {m['role']} of {tool}",
                    ev,
                ],
            )
        for k in truth["keys"]:
            if k["crew"] != cid:
                continue
            fp = k["fingerprint"]
            org = orgs[k["owner"]]
            victim = org.get("account") or org.get("subscription") or org["name"]
            n = con.execute(
                "SELECT count(*), sum(tokens_in), sum(tokens_out) FROM events WHERE key_fingerprint = ? "
                f"AND {at_crew}",
                [fp, ips, masked],
            ).fetchone()
            assert n is not None
            preview = con.execute(
                "SELECT any_value(preview) FROM findings WHERE fingerprint = ?", [fp]
            ).fetchone()
            minutes = None
            if k["leak_time"]:
                minutes = con.execute(
                    "SELECT date_diff('second', CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ)) / 60.0",
                    [k["leak_time"], k["first_abuse_time"]],
                ).fetchone()[0]  # type: ignore[index]
            con.execute(
                "INSERT INTO crew_keys VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMPTZ), ?, CAST(? AS "
                "TIMESTAMPTZ), ?, ?, ?, ?)",
                [
                    cid,
                    fp,
                    victim,
                    k["provider"],
                    preview[0] if preview else None,
                    k["leak_time"],
                    k["leak_repo"],
                    k["first_abuse_time"],
                    minutes,
                    n[0],
                    n[1],
                    n[2],
                ],
            )
            if k["leak_time"]:
                leak_ids = [
                    r[0]
                    for r in con.execute("SELECT id FROM findings WHERE fingerprint = ?", [fp]).fetchall()
                ]
                con.execute(
                    "INSERT INTO timeline VALUES (?, CAST(? AS TIMESTAMPTZ), 'leak', ?, ?, ?)",
                    [cid, k["leak_time"], fp, f"key published in {k['leak_repo']}", leak_ids],
                )
            first = _ids(
                con, "key_fingerprint = ? AND time >= CAST(? AS TIMESTAMPTZ)", [fp, k["first_abuse_time"]], 1
            )
            con.execute(
                "INSERT INTO timeline VALUES (?, CAST(? AS TIMESTAMPTZ), 'key-check', ?, ?, ?)",
                [
                    cid,
                    k["first_abuse_time"],
                    fp,
                    f"first call with the key from {tool} infrastructure",
                    first,
                ],
            )
        for stage, ops in (
            ("model-enablement", ENABLE_OPS),
            ("guardrail-tampering", TAMPER_OPS),
            ("abuse", USE_OPS),
        ):
            rows = con.execute(
                "SELECT min(time)::VARCHAR, any_value(key_fingerprint), operation, list(id ORDER BY "
                "time)[1:3] "
                f"FROM events WHERE list_contains(?, operation) AND {at_crew} GROUP BY operation, account",
                [list(ops), ips, masked],
            ).fetchall()
            for t, fp, op, ev in rows:
                con.execute(
                    "INSERT INTO timeline VALUES (?, CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?)",
                    [cid, t, stage, fp, f"{op} from the crew's proxy", ev],
                )
