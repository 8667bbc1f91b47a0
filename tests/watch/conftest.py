"""Real parts for watch: LiteLLM SpendLogs lines written to real files, and a real HTTP server on
127.0.0.1 that answers a scripted list of status codes (then 200) and records every request."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PROBE_RULE = "det.gateway.one-token-probe"  # one alert per key, counting its one-token probes


def probe(key: int, n: int, minute: int = 0) -> str:
    """One LiteLLM SpendLogs line: a one-token probe (the checker's call) with gateway key ``key``."""
    rec = {
        "request_id": f"chatcmpl-probe-{key}-{n}",
        "call_type": "acompletion",
        "api_key": hashlib.sha256(f"virtual-key-{key}".encode()).hexdigest(),
        "spend": 0.0000033,
        "total_tokens": 9,
        "prompt_tokens": 8,
        "completion_tokens": 1,
        "startTime": f"2025-03-04T07:{minute % 60:02d}:{n % 60:02d}.184888+00:00",
        "endTime": f"2025-03-04T07:{minute % 60:02d}:{n % 60:02d}.900000+00:00",
        "model": "gpt-4o-mini",
        "model_group": "gpt-4o-mini",
        "custom_llm_provider": "openai",
        "api_base": "https://api.openai.com/v1",
        "user": "",
        "team_id": "team-acme",
        "metadata": {"user_api_key_team_id": "team-acme", "headers": {"user-agent": "keychecker/2.1"}},
        "cache_hit": "False",
        "end_user": "",
        "requester_ip_address": "198.18.203.123",
        "messages": [{"role": "user", "content": ""}],
        "response": {},
        "status": "success",
    }
    return json.dumps(rec) + "\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


@dataclass
class Hook:
    """The webhook's record: every request (path, headers, body), and the statuses still to answer."""

    url: str
    script: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]

    def keys(self) -> list[str]:
        return [r["headers"]["Idempotency-Key"] for r in self.accepted()]


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                status = state.script.pop(0) if state.script else 200
                state.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(body),
                        "status": status,
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook/T0KEN-IN-PATH"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
