"""Fixtures for `serve`: one demo workspace per session, and real `ringbreaker serve` processes on
127.0.0.1 (a free port each), talked to over HTTP with the standard library's client."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

TOKEN = "serve-test-token-0123456789"  # generated per test run would work too; fixed makes logs readable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running `ringbreaker serve` process and what it wrote to stderr."""

    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    workspace: Path
    token: str = TOKEN
    cookie: str = field(default="")

    def get(self, path: str, *, auth: bool = True, headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            h = dict(headers or {})
            if auth:
                h["Authorization"] = f"Bearer {self.token}"
            conn.request("GET", path, headers=h)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running(workspace: Path, tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Start `ringbreaker serve` on a free port; wait for /healthz; stop it afterwards."""
    port = free_port()
    log = tmp / f"serve-{port}.log"
    environ = os.environ | {"RINGBREAKER_TOKEN": TOKEN} | (env or {})
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ringbreaker",
                "serve",
                "--workspace",
                str(workspace),
                "--port",
                str(port),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=environ,
        )
    server = Server(port, proc, log, workspace)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}: {server.stderr()}")
            try:
                if server.get("/healthz", auth=False).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer /healthz in 60 s: {server.stderr()}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Demo:
    out: Path
    workspace: Path


def one(demo: Demo, sql: str) -> Any:
    """The first row of a query on the demo workspace (its only value when it has one column)."""
    con = duckdb.connect(str(demo.workspace), read_only=True)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    assert row is not None
    return row[0] if len(row) == 1 else row


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`ringbreaker demo` at a small scale (about 10k events, one crew): every stage wrote it."""
    out = tmp_path_factory.mktemp("serve-demo") / "demo"
    subprocess.run(
        [sys.executable, "-m", "ringbreaker", "demo", "--out", str(out), "--scale", "0.3"],
        check=True,
        capture_output=True,
    )
    return Demo(out, out / "ringbreaker.duckdb")


@pytest.fixture(scope="session")
def server(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(demo.workspace, tmp_path_factory.mktemp("serve-logs")) as s:
        yield s
