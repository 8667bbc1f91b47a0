"""The token gate of a real `ringbreaker serve`: 401 without it on every route, Bearer, the
?token= visit that becomes a cookie, security headers, and the token kept out of the access log."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ringbreaker.serve import bind_warning, loopback
from tests.serve.conftest import TOKEN, Demo, Server, free_port, running

ROUTES = [
    "/",
    "/alerts",
    "/alerts/x",
    "/keys/abc",
    "/crews",
    "/crews/x",
    "/events/x",
    "/search?q=1",
    "/cases/x",
    "/cases/x/case.html",
    "/cases/x/case.stix.json",
    "/favicon.ico",
    "/static/app.css",
    "/api/alerts",
    "/api/alerts/x",
    "/api/keys/abc",
    "/api/crews",
    "/api/crews/x",
    "/api/search?q=1",
    "/no/such/route",
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_but_healthz_needs_the_token(server: Server, path: str) -> None:
    r = server.get(path, auth=False)
    assert r.status == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    wrong = server.get(path, auth=False, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401
    also_wrong = server.get(path + ("&" if "?" in path else "?") + "token=nope", auth=False)
    assert also_wrong.status == 401
    forged = server.get(path, auth=False, headers={"Cookie": f"ringbreaker_session={TOKEN}"})
    assert forged.status == 401  # the cookie holds an HMAC of the token, not the token


def test_401_pages_say_what_to_do(server: Server) -> None:
    assert "needs its token" in server.get("/alerts", auth=False).text
    assert server.get("/api/alerts", auth=False).json()["error"].startswith("unauthorized")
    health = server.get("/healthz", auth=False)
    assert health.status == 200
    assert health.json() == {"ok": True}


def test_token_in_the_url_becomes_a_cookie_and_leaves_the_url(server: Server) -> None:
    r = server.get(f"/alerts?severity=high&token={TOKEN}&sort=count", auth=False)
    assert r.status == 303
    assert r.headers["location"] == "/alerts?severity=high&sort=count"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    value = cookie.split(";")[0]
    followed = server.get(r.headers["location"], auth=False, headers={"Cookie": value})
    assert followed.status == 200
    assert "Alerts" in followed.text


def test_security_headers_on_every_answer(server: Server) -> None:
    for path in ("/", "/api/alerts", "/static/app.js"):
        h = server.get(path).headers
        assert "default-src 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert "server" not in h


def test_start_line_has_the_url_and_the_log_never_the_token(server: Server) -> None:
    server.get(f"/crews?token={TOKEN}", auth=False)
    server.get("/search?q=secret-looking-query")
    log = server.stderr()
    start = log.splitlines()[0]
    assert re.search(rf"http://127\.0\.0\.1:{server.port}/\?token={TOKEN}$", start), start
    assert log.count(TOKEN) == 1  # the start line only
    assert '"GET /crews" 303' in log  # the access log has the path, without the query string
    assert "secret-looking-query" not in log


def test_a_random_token_when_none_is_given(demo: Demo, tmp_path: Path) -> None:
    with running(demo.workspace, tmp_path, env={"RINGBREAKER_TOKEN": ""}) as s:
        start = s.stderr().splitlines()[0]
        token = start.rsplit("?token=", 1)[1]
        assert len(token) >= 40
        assert token != TOKEN
        s.token = token
        assert s.get("/api/crews").status == 200


def test_binding_beyond_loopback_warns() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert loopback(host), host
        assert bind_warning(host) is None
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert not loopback(host), host
        assert "warning: binding" in (bind_warning(host) or "")


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringbreaker", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_usage_errors_exit_2(demo: Demo, tmp_path: Path, server: Server) -> None:
    missing = _serve("--workspace", str(tmp_path / "none.duckdb"), "--port", str(free_port()))
    assert missing.returncode == 2
    assert "no workspace" in missing.stderr
    short = _serve("--workspace", str(demo.workspace), "--token", "abc", "--port", str(free_port()))
    assert short.returncode == 2
    assert "at least 8" in short.stderr
    busy = _serve("--workspace", str(demo.workspace), "--port", str(server.port), "--token", TOKEN)
    assert busy.returncode == 2
    assert "in use" in busy.stderr


@pytest.mark.parametrize(
    "cookie",
    [
        'ringbreaker_session="unterminated',
        "a=b; ringbreaker_session",
        '$Version=1; ringbreaker_session="\\q"',
        "=;=;",
    ],
)
def test_a_malformed_cookie_is_no_cookie(server: Server, cookie: str) -> None:
    assert server.get("/alerts", auth=False, headers={"Cookie": cookie}).status == 401


def test_host_beyond_loopback_warns_on_stderr_and_still_needs_the_token(demo: Demo, tmp_path: Path) -> None:
    """The real server on --host 0.0.0.0 (a free port): the warning comes before the start line, and
    the token is required as on loopback."""
    with running(demo.workspace, tmp_path, "--host", "0.0.0.0") as s:
        lines = s.stderr().splitlines()
        assert lines[0].startswith("warning: binding 0.0.0.0"), lines[:2]
        assert f"http://0.0.0.0:{s.port}/?token={TOKEN}" in lines[1]
        assert s.get("/api/alerts", auth=False).status == 401
        assert s.get("/alerts", auth=False).status == 401
        assert s.get("/api/alerts").status == 200
