"""The server never writes the workspace, and keeps answering while another process writes it.

DuckDB lets one process write a file and a writer fails at once while any other process holds it
open, so these tests use real processes: a server over a copy of the demo workspace, and a writer
(a Python process holding the file read-write, then a real `ringbreaker detect`) beside it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.serve.conftest import Demo, Server, running

WRITER = """
import sys, time
from ringbreaker.workspace import open_workspace
con = open_workspace(sys.argv[1])
con.execute(
    "INSERT INTO alerts SELECT 'serve-test-new-alert', rule, severity, 'written while serving', summary, "
    "first_time, last_time, count, key_fingerprints, principals, src_ips, accounts, resources, proxy_hosts, "
    "end_users, event_ids, details, first_detected, last_detected FROM alerts LIMIT 1"
)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("done", flush=True)
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def total(server: Server) -> int:
    r = server.get("/api/alerts?per_page=1")
    assert r.status == 200, r.text
    return int(r.json()["total"])


def wait_for(server: Server, want: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while total(server) != want:
        assert time.monotonic() < deadline, f"the snapshot did not refresh to {want} alerts"
        time.sleep(0.3)


def test_serving_leaves_the_file_unchanged(demo: Demo, tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    shutil.copy(demo.workspace, ws)
    before, mtime = digest(ws), ws.stat().st_mtime_ns
    with running(ws, tmp_path) as s:
        crew = s.get("/api/crews").json()["crews"][0]["id"]
        for path in (
            "/",
            "/alerts",
            f"/crews/{crew}",
            f"/cases/{crew}/case.html",
            "/search?q=198",
            "/api/alerts",
        ):
            assert s.get(path).status == 200, path
    assert digest(ws) == before
    assert ws.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ws.duckdb")) == ["ws.duckdb"]


def test_answers_while_a_writer_holds_the_file_then_shows_its_rows(demo: Demo, tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    shutil.copy(demo.workspace, ws)
    with running(ws, tmp_path) as s:
        n = total(s)
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ws), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert (
            writer.stdout.readline().strip() == "holding"
        )  # the writer got the file: the server held no lock
        t0 = time.monotonic()
        answered = 0
        while writer.poll() is None:
            assert total(s) == n  # still the snapshot from before the write
            assert s.get("/").status == 200
            answered += 1
            time.sleep(0.2)
        _, err = writer.communicate()
        assert writer.returncode == 0, err
        assert answered >= 5
        assert time.monotonic() - t0 >= 3
        wait_for(s, n + 1)  # refreshed once the writer let go
        assert s.get("/api/alerts/serve-test-new-alert").json()["title"] == "written while serving"
        # a real writer verb, started while the server runs, is not stopped by it
        detect = subprocess.run(
            [
                sys.executable,
                "-m",
                "ringbreaker",
                "detect",
                "--workspace",
                str(ws),
                "--format",
                "jsonl",
                "-q",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert detect.returncode in (0, 1), detect.stderr
        assert s.get("/api/alerts/serve-test-new-alert").status == 200
