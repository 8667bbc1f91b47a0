"""The follower and ``ingest_appended`` on real files and a real workspace: appended JSONL lines are
read from where the last read stopped, a partial line waits, a shrunk or rewritten file is read again
from its start, a restart resumes at the committed offset, and a compressed file waits until stable."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import duckdb

from ringbreaker.ingest import ingest_appended
from ringbreaker.watch import Follower, Known
from ringbreaker.workspace import open_workspace
from tests.watch.conftest import append, probe


def _known(con: duckdb.DuckDBPyConnection) -> dict[str, Known]:
    rows = con.execute(
        "SELECT path, size, sha256, format, epoch_ms(finished_at) FROM ingested_files"
    ).fetchall()
    return {str(p): Known(int(n), str(s), str(f), int(t)) for p, n, s, f, t in rows}


def _store(con: duckdb.DuckDBPyConnection, follower: Follower) -> tuple[int, list[str]]:
    """One poll's pieces stored; (events stored, waiting files)."""
    poll = follower.poll()
    stored = 0
    if poll.pieces:
        rep = ingest_appended(con, poll.pieces)
        for f in rep.files:
            follower.stored(f.path, f.status, f.format)
        stored = rep.total("stored")
    return stored, poll.waiting


def _offsets(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [r[0] for r in con.execute("SELECT source_offset FROM events ORDER BY source_offset").fetchall()]


def test_appended_lines_are_read_from_the_last_complete_line(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    f = logs / "spend.jsonl"
    line3 = probe(1, 3)
    f.write_text(probe(1, 1) + probe(1, 2) + line3[:40])  # a shipper mid-write: line 3 is partial
    con = open_workspace(tmp_path / "ws.duckdb")
    follower = Follower([logs], set(), settle=3600)
    assert _store(con, follower) == (2, [str(f)])
    assert _store(con, follower) == (0, [str(f)])  # the partial line waits, nothing re-read
    append(f, line3[40:] + probe(1, 4))
    assert _store(con, follower) == (2, [])
    assert _offsets(con) == [1, 2, 3, 4]  # line numbers count from the file's start
    size, _sha = con.execute("SELECT size, sha256 FROM ingested_files").fetchone() or (0, "")
    assert size == f.stat().st_size
    # a plain `ingest` sees the same row: the file is unchanged since its last append
    from ringbreaker.ingest import ingest

    assert ingest(con, [f]).files[0].status == "skipped"


def test_restart_resumes_at_the_committed_offset_and_checks_the_prefix(tmp_path: Path) -> None:
    f = tmp_path / "spend.jsonl"
    f.write_text(probe(2, 1) + probe(2, 2))
    ws = tmp_path / "ws.duckdb"
    con = open_workspace(ws)
    assert _store(con, Follower([f], set(), 0))[0] == 2
    append(f, probe(2, 3))
    again = Follower([f], set(), 0)  # a new process: state from the workspace only
    again.load(_known(con))
    poll = again.poll()
    assert [(p.first_line, p.restart) for p in poll.pieces] == [(3, False)]
    assert poll.pieces[0].data == probe(2, 3).encode()
    # the same size, another start (a file replaced in place): read again from line 1, ids dedupe
    text = f.read_text()
    f.write_text(text.replace("chatcmpl-probe-2-1", "chatcmpl-probe-2-9"))
    third = Follower([f], set(), 0)
    third.load(_known(con))
    poll = third.poll()
    assert [(p.first_line, p.restart) for p in poll.pieces] == [(1, True)]
    rep = ingest_appended(con, poll.pieces)
    assert (rep.total("stored"), rep.total("duplicates")) == (2, 1)


def test_a_shrunk_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    f = tmp_path / "spend.jsonl"
    f.write_text(probe(3, 1) + probe(3, 2) + probe(3, 3))
    con = open_workspace(tmp_path / "ws.duckdb")
    follower = Follower([f], set(), 0)
    assert _store(con, follower)[0] == 3
    f.write_text(probe(3, 4))  # rotated by copy-truncate, then written
    poll = follower.poll()
    assert [(p.first_line, p.restart) for p in poll.pieces] == [(1, True)]
    rep = ingest_appended(con, poll.pieces)
    assert rep.total("stored") == 1
    assert con.execute("SELECT count(*) FROM events").fetchone() == (4,)


def test_a_compressed_file_waits_until_it_is_stable(tmp_path: Path) -> None:
    logs = tmp_path / "s3"
    logs.mkdir()
    gz = logs / "part.json.gz"
    gz.write_bytes(gzip.compress(probe(4, 1).encode())[:10])  # half-copied
    follower = Follower([logs], set(), settle=3600)
    assert follower.poll().waiting == [str(gz)]  # first sight: modified just now
    gz.write_bytes(gzip.compress((probe(4, 1) + probe(4, 2)).encode()))
    assert follower.poll().waiting == [str(gz)]  # changed since the last poll
    poll = follower.poll()
    assert poll.whole == [str(gz)]
    assert not poll.waiting
    follower.handed(poll.whole)
    assert follower.poll().whole == []
    old = time.time() - 10
    os.utime(gz, (old, old))
    assert Follower([logs], set(), settle=5).poll().whole == [str(gz)]  # quiet for --settle


def test_hidden_temporary_and_excluded_files_are_not_followed(tmp_path: Path) -> None:
    for name in ("a.jsonl", ".hidden.jsonl", "b.jsonl.tmp", "c.json.gz.part", "ws.duckdb"):
        (tmp_path / name).write_text(probe(5, 1))
    follower = Follower([tmp_path], {tmp_path / "ws.duckdb"}, 0)
    assert [p.name for p in follower.paths()] == ["a.jsonl"]
