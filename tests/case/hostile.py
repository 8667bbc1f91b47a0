"""Small hand-built workspaces for `case`: a crew whose log fields carry markup, and a nearly empty crew."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ringbreaker.workspace import open_workspace

# The columns these tests fill (the tables have more, which stay NULL).
CREWS = "crews (id, name, first_time, last_time, summary)"
MEMBERS = "crew_members (crew_id, kind, entity, role, confidence, evidence, evidence_ids)"

# Log fields are attacker-controlled: a user agent, an end-user id or a proxy host can hold markup.
SCRIPT = "<script>document.title='pwned'</script>"
IMG = '"><img src=x onerror="document.title=\'pwned\'">'
SVG_BREAK = "</text></svg><svg onload=\"document.title='pwned'\">"
HOSTILE_UA = f"evil-proxy/1.0 {SCRIPT}{IMG}"


def hostile_workspace(tmp: Path) -> Path:
    """One crew whose name, members, key preview, events, timeline and alert carry HTML/SVG payloads."""
    ws = tmp / "hostile.duckdb"
    fp = hashlib.sha256(b"not-a-real-key").hexdigest()
    con = open_workspace(ws)
    try:
        con.execute(
            f"INSERT INTO {CREWS} VALUES ('crew-x', ?, TIMESTAMPTZ '2025-03-04 10:00:00+00', "
            "TIMESTAMPTZ '2025-03-04 12:00:00+00', ?)",
            [f"crew {SCRIPT}", f"summary {IMG}"],
        )
        members = [
            ("person", f"alice{SCRIPT}", "creator"),
            ("user_agent", HOSTILE_UA, "creator"),
            ("person", f"bob{IMG}", "provider"),
            ("ip", "203.0.113.7", "provider"),
            ("proxy_host", f"x{SVG_BREAK}.example.net", "provider"),
            ("end_user", f"user-{SVG_BREAK}", "user"),
        ]
        for kind, entity, role in members:
            con.execute(
                f"INSERT INTO {MEMBERS} VALUES ('crew-x', ?, ?, ?, 0.8, ?, [])",
                [kind, entity, role, f"because {IMG}"],
            )
        con.execute(
            "INSERT INTO crew_keys VALUES ('crew-x', ?, ?, 'openai', ?, TIMESTAMPTZ '2025-03-04 "
            "10:00:00+00', ?, "
            "TIMESTAMPTZ '2025-03-04 10:20:00+00', 20.0, 3, 300, 30)",
            [fp, f"victim{SCRIPT}", f"sk-{SCRIPT}…(51)", f"repo/{IMG}"],
        )
        for i in range(3):
            con.execute(
                "INSERT INTO events (id, time, provider, operation, status, key_fingerprint, src_ip, "
                "user_agent, "
                "model, tokens_in, tokens_out, end_user, source_format, source_file) VALUES "
                "(?, TIMESTAMPTZ '2025-03-04 10:20:00+00' + INTERVAL (?) MINUTE, 'gateway', ?, 'success', ?, "
                "'203.0.113.7', ?, 'gpt-4o', 100, 10, ?, 'litellm-spendlogs', 'f.jsonl')",
                [f"ev{i}", i * 30, f"acompletion{SCRIPT}", fp, HOSTILE_UA, f"user-{SVG_BREAK}"],
            )
        con.execute(
            "INSERT INTO verdicts VALUES ('ev1', 0.97, 0.01, 0.02, 0.0, 'high', ['bypass'], 'test', now())"
        )
        for stage, minute in (("leak", 0), ("key-check", 20), ("abuse", 21), ("guardrail-tampering", 90)):
            con.execute(
                "INSERT INTO timeline VALUES ('crew-x', TIMESTAMPTZ '2025-03-04 10:00:00+00' + INTERVAL (?) "
                "MINUTE, "
                "?, ?, ?, ['ev0'])",
                [minute, stage, fp, f"{stage} {SVG_BREAK}"],
            )
        con.execute(
            "INSERT INTO alerts VALUES ('al1', 'det.x', 'high', ?, ?, TIMESTAMPTZ '2025-03-04 10:20:00+00', "
            "TIMESTAMPTZ '2025-03-04 11:20:00+00', 3, [?], [], ['203.0.113.7'], [], [], [?], [], ['ev0'], "
            "NULL, now(), now())",
            [f"title {SCRIPT}", f"summary {IMG}", fp, f"x{SVG_BREAK}.example.net"],
        )
    finally:
        con.close()
    return ws


def nearly_empty_workspace(tmp: Path) -> Path:
    """A crew with one member and nothing else: no keys, no timeline, no events, no alerts."""
    ws = tmp / "empty.duckdb"
    con = open_workspace(ws)
    try:
        con.execute(
            f"INSERT INTO {CREWS} VALUES ('crew-e', 'lonely', NULL, NULL, 'one handle, nothing else')"
        )
        con.execute(
            f"INSERT INTO {MEMBERS} VALUES ('crew-e', 'person', 'solo99', 'creator', 0.4, 'commit "
            "author', [])"
        )
    finally:
        con.close()
    return ws
