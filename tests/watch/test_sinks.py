"""``ringbreaker watch --once`` as a user runs it, against a real HTTP server on 127.0.0.1 and a real
command: retries with backoff until the webhook accepts, the idempotency key, no re-send after a
restart, a grown alert sent again as its next revision, exit codes, and no secret in any output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ringbreaker.watch import payload, redact_doc, render
from tests.conftest import rb
from tests.watch.conftest import PROBE_RULE, Hook, append, probe

FAST = ("--rule", PROBE_RULE, "--no-classify", "--retry-base", "0.05", "--settle", "0")


def _logs(tmp_path: Path, keys: int) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "spend.jsonl").write_text("".join(probe(k, 1) for k in range(keys)))
    return logs


def _once(logs: Path, ws: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """``ringbreaker watch LOGS --workspace WS --once ARGS...`` with the fast test settings."""
    return rb("watch", str(logs), "--workspace", str(ws), "--once", *args, *FAST)


def test_webhook_is_retried_until_it_accepts_and_nothing_is_sent_twice(tmp_path: Path, hook: Hook) -> None:
    logs = _logs(tmp_path, 3)
    ws = str(tmp_path / "ws.duckdb")
    hook.script = [500, 503]  # down for two attempts
    r = _once(logs, ws, "--webhook", hook.url)
    assert r.returncode == 0, r.stderr
    assert [q["status"] for q in hook.requests] == [500, 503, 200, 200, 200]
    assert "failed (HTTP 500" in r.stderr
    assert "retrying in" in r.stderr
    keys = hook.keys()
    bodies = [q["body"] for q in hook.accepted()]
    assert len(set(keys)) == 3
    assert keys == [f"{b['id']}-r1" for b in bodies]
    assert all(b["rule"] == PROBE_RULE and b["change"] == "new" and b["revision"] == 1 for b in bodies)
    assert hook.requests[0]["headers"]["Idempotency-Key"] == hook.requests[2]["headers"]["Idempotency-Key"]
    assert "T0KEN-IN-PATH" not in r.stderr + r.stdout  # the URL's path is a secret on Slack and Teams
    assert r.stdout == ""  # a webhook replaces the default stdout sink

    again = _once(logs, ws, "--webhook", hook.url)
    assert again.returncode == 0, again.stderr
    assert len(hook.requests) == 5  # a restart re-sends nothing

    append(logs / "spend.jsonl", probe(1, 2) + probe(1, 3))  # key 1's alert grows
    grown = _once(logs, ws, "--webhook", hook.url)
    assert grown.returncode == 0, grown.stderr
    last = hook.accepted()[-1]
    assert len(hook.requests) == 6
    assert last["body"]["change"] == "grown"
    assert last["body"]["count"] == 3
    assert last["headers"]["Idempotency-Key"] == f"{last['body']['id']}-r2"


def test_undelivered_alerts_exit_2_and_are_sent_by_the_next_run(tmp_path: Path, hook: Hook) -> None:
    logs = _logs(tmp_path, 2)
    ws = str(tmp_path / "ws.duckdb")
    hook.script = [500] * 3
    r = _once(logs, ws, "--webhook", hook.url, "--retries", "3")
    assert r.returncode == 2
    assert "2 alert(s) not delivered after 3 attempt(s)" in r.stderr
    assert "Traceback" not in r.stderr
    ok = _once(logs, ws, "--webhook", hook.url, "--fail-on", "medium")
    assert ok.returncode == 1, ok.stderr  # delivered; a medium alert exists
    assert len(set(hook.keys())) == 2


def test_exec_gets_the_alert_on_stdin_and_a_failure_is_retried(tmp_path: Path) -> None:
    logs = _logs(tmp_path, 1)
    out, marker = tmp_path / "got.jsonl", tmp_path / "failed-once"
    script = tmp_path / "sink.py"
    script.write_text(
        "import os, sys, pathlib\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n    m.touch(); sys.exit(3)\n"
        "doc = sys.stdin.read().strip()\n"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(os.environ['RINGBREAKER_IDEMPOTENCY_KEY'] + ' ' + doc + '\\n')\n"
    )
    cmd = f"{sys.executable} {script}"
    r = _once(logs, tmp_path / "ws.duckdb", "--exec", cmd, "--stdout")
    assert r.returncode == 0, r.stderr
    assert "exec python" in r.stderr
    assert "exited 3" in r.stderr
    key, _, doc = out.read_text().strip().partition(" ")
    alert = json.loads(doc)
    assert key == f"{alert['id']}-r1"
    assert alert["rule"] == PROBE_RULE
    printed = [json.loads(x) for x in r.stdout.splitlines()]
    assert [a["id"] for a in printed] == [alert["id"]]  # --stdout too: the same document


def test_slack_and_teams_bodies(tmp_path: Path, hook: Hook) -> None:
    logs = _logs(tmp_path, 1)
    r = _once(logs, tmp_path / "ws.duckdb", "--webhook", hook.url, "--webhook-format", "slack")
    assert r.returncode == 0, r.stderr
    body = hook.accepted()[0]["body"]
    assert body["text"].startswith("[MEDIUM] One-token probe")
    assert body["blocks"][0]["type"] == "header"
    doc = {
        "id": "a1",
        "revision": 2,
        "change": "grown",
        "severity": "high",
        "title": "T",
        "summary": "S",
        "rule": "r",
        "count": 3,
        "first_seen": "x",
        "last_seen": "y",
        "entities": {"src_ips": ["198.18.0.1"]},
    }
    card = render(doc, "teams")
    assert card["@type"] == "MessageCard"
    assert card["themeColor"] == "D93F0B"
    assert {"name": "src ips", "value": "198.18.0.1"} in card["sections"][0]["facts"]


def test_a_credential_in_an_alert_never_reaches_a_sink(keygen: object) -> None:
    from ringbreaker.model import Alert, Severity
    from ringbreaker.watch import Entry

    key = keygen("sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}")  # type: ignore[operator]
    fp = "a" * 64
    alert = Alert(
        "id1",
        PROBE_RULE,
        Severity.HIGH,
        "t",
        f"used {key}",
        0,
        0,
        1,
        (fp,),
        (),
        (),
        (),
        (),
        (),
        (),
        ("e1",),
        {"note": f"key={key}"},
    )
    doc = payload(alert, Entry(1, 1, 1, 3))
    text = json.dumps(doc)
    assert key not in text
    assert key[:4] + "…" in doc["summary"]
    assert doc["entities"]["key_fingerprints"] == [fp]  # fingerprints are not secrets: kept whole
    assert redact_doc({"k": [key]}) != {"k": [key]}
