"""The machine refusing: a full disk or exhausted memory ends ingest with one clear error and exit 2
within seconds, the workspace consistent (a rerun with room completes it); a SIGKILLed ingest
leaves no parser process behind, and a rerun gives the same events as a clean run."""

from __future__ import annotations

import gzip
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ringbreaker.errors import ResourceError
from ringbreaker.workspace import guarded, open_workspace
from tests.ingest.gen import write_records

FILES, PER_FILE = 4, 3000


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plain Records files of ~3 MB each: every file its own bundle, so parser processes share them."""
    d = tmp_path_factory.mktemp("logs")
    for i in range(FILES):
        gz = write_records(d / f"ct-{i}.json.gz", PER_FILE, seed=100 + i)
        (d / f"ct-{i}.json").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    return d


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RINGBREAKER_WORKSPACE"}
    src = str(Path(__file__).parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _ingest(
    logs: Path, ws: Path, *extra: str, fsize: int | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # writes past fsize fail with EFBIG, as on a full disk (SIGXFSZ: Python ignores it)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "ringbreaker", "ingest", str(logs), "--workspace", str(ws), "-q", *extra],
        capture_output=True,
        text=True,
        env=_env(),
        preexec_fn=limit,
        timeout=timeout,
        check=False,
    )


def _events(ws: Path) -> tuple[int, int]:
    con = duckdb.connect(str(ws), read_only=True)
    try:
        (n, files), *_ = con.execute(
            "SELECT (SELECT count(DISTINCT id) FROM events), (SELECT count(*) FROM ingested_files)"
        ).fetchall()
    finally:
        con.close()
    return int(n), int(files)


@pytest.mark.parametrize("workers", [False, True], ids=["in-process", "parser-processes"])
def test_full_disk_is_one_error_and_a_rerun_completes(logs: Path, tmp_path: Path, workers: bool) -> None:
    ws = tmp_path / "ws.duckdb"
    extra = ("-j", "2", "--parallel-min", "1") if workers else ("-j", "1")
    started = time.monotonic()
    p = _ingest(logs, ws, *extra, fsize=1_500_000, timeout=60)
    took = time.monotonic() - started
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert took < 30, took
    errors = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, p.stderr  # one message, no chained tracebacks
    assert errors[0].startswith("error: ")
    assert "no space left" in errors[0] or "disk is full" in errors[0], errors[0]
    assert "Traceback" not in p.stderr
    # the workspace opens, holds whole files only, and a run with room completes it
    stored, files = _events(ws)
    assert stored <= FILES * PER_FILE
    assert files < FILES
    again = _ingest(logs, ws, *extra)
    assert again.returncode == 0, again.stderr
    assert _events(ws) == (FILES * PER_FILE, FILES)


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_leaves_no_worker_and_a_rerun_matches_a_clean_run(logs: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    cmd = [sys.executable, "-m", "ringbreaker", "ingest", str(logs), "--workspace", str(ws), "-q"]
    proc = subprocess.Popen(
        [*cmd, "-j", "2", "--parallel-min", "1", "--batch-size", "512"], env=_env(), stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    kids: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        kids = _children(proc.pid)
        if len(kids) >= 2:  # the two parser processes (and multiprocessing's resource tracker)
            break
        time.sleep(0.02)
    assert len(kids) >= 2, "the parser processes never started"
    time.sleep(0.5)  # let them get to work
    kids = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(k) for k in kids):
        time.sleep(0.05)
    alive = [k for k in kids if _running(k)]
    for k in alive:
        os.kill(k, signal.SIGKILL)
    assert not alive, f"parser processes outlived the killed ingest: {alive}"
    again = _ingest(logs, ws)
    assert again.returncode == 0, again.stderr
    clean = tmp_path / "clean.duckdb"
    assert _ingest(logs, clean).returncode == 0
    assert _events(ws) == _events(clean) == (FILES * PER_FILE, FILES)


def test_duckdb_out_of_memory_is_a_resource_error(tmp_path: Path) -> None:
    """A real DuckDB memory-limit failure inside the storage boundary reads as the machine's refusal
    (exit 2 through the CLI), naming the workspace."""
    con = open_workspace(tmp_path / "ws.duckdb")
    con.execute("SET memory_limit = '32MiB'")
    con.execute("SET temp_directory = ''")  # nowhere to spill: the limit is hard
    big = "SELECT list(range) FROM (SELECT range FROM range(20000000)) GROUP BY range % 3"
    oom = pytest.raises(ResourceError, match=r"ws\.duckdb: out of memory: .*\(during test\)")
    with oom, guarded(con, "test"):
        con.execute(big).fetchall()
    con.close()
