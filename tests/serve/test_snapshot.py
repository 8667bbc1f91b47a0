"""The snapshot machinery in-process, on real DuckDB files: a writer process makes the probe fail and
the old snapshot stays; a copy the workspace changed under is thrown away; the index goes into the
copy only; retired copies are deleted once their last reader is done."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ringbreaker.serve import Snapshots
from ringbreaker.serve import snapshot as snapshot_module
from ringbreaker.workspace import open_workspace

HOLD = """
import sys, time
from ringbreaker.workspace import open_workspace
con = open_workspace(sys.argv[1])
con.execute("INSERT INTO quarantine VALUES ('held.jsonl', 1, 'x', 'held', '{}', now())")
print("holding", flush=True)
sys.stdin.readline()
con.close()
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws.duckdb"
    con = open_workspace(ws)
    con.execute(
        "INSERT INTO events (id, time, provider, operation, status, source_format, source_file) "
        "VALUES ('e1', now(), 'aws', 'InvokeModel', 'success', 'cloudtrail', 'f.json')"
    )
    con.close()
    return ws


def count(snaps: Snapshots, table: str) -> int:
    with snaps.cursor() as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_writer_keeps_the_old_snapshot_until_it_lets_go(workspace: Path, tmp_path: Path) -> None:
    snaps = Snapshots(workspace, tmp_path / "snaps")
    try:
        snaps.wait_first(10)
        assert count(snaps, "quarantine") == 0
        with subprocess.Popen(
            [sys.executable, "-c", HOLD, str(workspace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None
            assert writer.stdin is not None
            assert writer.stdout.readline().strip() == "holding"
            os.utime(workspace)  # the writer's change, as the refresher sees it
            assert snaps.refresh() is False  # the probe fails while the writer holds the file
            assert snaps.busy_since is not None
            assert "lock" in (snaps.last_error or "").lower()
            assert count(snaps, "quarantine") == 0  # still answering, from the old copy
            writer.stdin.write("\n")
            writer.stdin.close()
            assert writer.wait(timeout=30) == 0
        assert snaps.refresh() is True
        assert snaps.busy_since is None
        assert count(snaps, "quarantine") == 1
        assert snaps.refresh() is False  # unchanged since: no new copy
    finally:
        snaps.close()


def test_a_copy_the_workspace_changed_under_is_discarded(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snaps = Snapshots(workspace, tmp_path / "snaps")
    real_copy = shutil.copyfile

    def copy_then_touch(src: Path, dst: Path) -> object:
        out = real_copy(src, dst)
        os.utime(workspace, ns=(0, workspace.stat().st_mtime_ns + 1_000_000))  # a checkpoint meanwhile
        return out

    monkeypatch.setattr(snapshot_module.shutil, "copyfile", copy_then_touch)
    try:
        assert snaps.refresh() is False
        assert "changed during the copy" in (snaps.last_error or "")
        assert snaps.taken is None
        assert list((tmp_path / "snaps").iterdir()) == []  # the torn copy is gone
        monkeypatch.setattr(snapshot_module.shutil, "copyfile", real_copy)
        assert snaps.refresh() is True
        assert count(snaps, "events") == 1
    finally:
        snaps.close()


def test_the_index_goes_into_the_copy_only_and_retired_copies_are_deleted(
    workspace: Path, tmp_path: Path
) -> None:
    snaps = Snapshots(workspace, tmp_path / "snaps")
    try:
        snaps.wait_first(10)
        with snaps.cursor() as con:
            names = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
        assert "serve_events_id" in names
        ws = duckdb.connect(str(workspace), read_only=True)
        try:
            assert ws.execute(
                "SELECT count(*) FROM duckdb_indexes() WHERE index_name LIKE 'serve%'"
            ).fetchone() == (0,)
        finally:
            ws.close()
        with snaps.cursor() as reading:  # a request still reading the first copy
            first = sorted((tmp_path / "snaps").glob("*.duckdb"))
            os.utime(workspace, ns=(0, workspace.stat().st_mtime_ns + 1_000_000))
            assert snaps.refresh() is True
            assert reading.execute("SELECT count(*) FROM events").fetchone() == (1,)  # still works
            assert first[0].exists()
        assert not first[0].exists()  # deleted when its last reader finished
        assert len(list((tmp_path / "snaps").glob("*.duckdb"))) == 1
    finally:
        snaps.close()
    assert list((tmp_path / "snaps").glob("*.duckdb")) == []
