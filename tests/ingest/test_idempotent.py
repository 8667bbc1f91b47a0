"""Re-ingest adds nothing; unchanged files are skipped; a killed ingest is completed by a rerun."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ringbreaker.ingest import FileReport, IngestConfig, ingest
from ringbreaker.workspace import open_workspace
from tests.ingest.conftest import DATA, rows
from tests.ingest.gen import record


def test_reingest_adds_nothing(ws: duckdb.DuckDBPyConnection) -> None:
    paths = sorted(DATA.iterdir())
    first = ingest(ws, paths)
    n = rows(ws, "SELECT count(*) FROM events")[0][0]
    assert n == first.total("stored") > 0
    again = ingest(ws, paths)
    assert {f.status for f in again.files} == {"skipped"}
    assert rows(ws, "SELECT count(*) FROM events") == [(n,)]
    forced = ingest(ws, paths, IngestConfig(force=True))
    assert forced.total("stored") == 0
    # every record read again is a duplicate: those stored, and those the first run already found
    # twice (the GuardDuty samples share findings across their EventBridge and array files)
    assert forced.total("duplicates") == n + first.total("duplicates")
    assert rows(ws, "SELECT count(*) FROM events") == [(n,)]


def test_changed_file_is_read_again(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = (DATA / "cloudtrail.ndjson").read_text().splitlines()
    p = tmp_path / "t.ndjson"
    p.write_text(lines[0] + "\n")
    ingest(ws, [p])
    p.write_text("\n".join(lines) + "\n")  # the log grew
    (f,) = ingest(ws, [p]).files
    assert (f.status, f.stored, f.duplicates) == ("ingested", 2, 1)
    assert rows(ws, "SELECT records, stored, duplicates FROM ingested_files") == [(3, 2, 1)]


def _write_many(root: Path, files: int, per_file: int) -> int:
    import json
    import random

    rng = random.Random(3)
    root.mkdir()
    for k in range(files):
        with gzip.open(root / f"part-{k:03d}.ndjson.gz", "wt", compresslevel=1) as f:
            for i in range(per_file):
                f.write(json.dumps(record(rng, k * per_file + i)) + "\n")
    return files * per_file


def test_killed_ingest_is_consistent_and_a_rerun_completes_it(tmp_path: Path) -> None:
    total = _write_many(tmp_path / "logs", files=12, per_file=2500)
    wsp = tmp_path / "ws.duckdb"
    cmd = [sys.executable, "-m", "ringbreaker.ingest", str(tmp_path / "logs"), "--workspace", str(wsp),
           "-j", "1", "--batch-size", "500"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    assert proc.stderr is not None
    done = 0
    deadline = time.monotonic() + 60
    while done < 2 and time.monotonic() < deadline:  # wait until two files are stored, then kill
        line = proc.stderr.readline()
        if not line:
            break
        done += line.startswith("ingest: ") and " stored" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert done == 2, "the ingest finished or failed before it could be killed"

    con = open_workspace(wsp)
    try:
        stored = rows(con, "SELECT count(*), count(DISTINCT id) FROM events")[0]
        assert stored[0] == stored[1]
        assert 2 * 2500 <= stored[0] < total
        finished = rows(con, "SELECT count(*) FROM ingested_files")[0][0]
        assert finished >= 2
    finally:
        con.close()

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("skipped (unchanged") == finished
    con = open_workspace(wsp)
    try:
        assert rows(con, "SELECT count(*), count(DISTINCT id) FROM events") == [(total, total)]
        assert rows(con, "SELECT count(*) FROM quarantine") == [(0,)]
        assert rows(con, "SELECT count(*), sum(records) FROM ingested_files") == [(12, total)]
    finally:
        con.close()


@pytest.mark.parametrize("bundle_bytes", [0, 3000])  # one file a bundle; several small files a bundle
def test_worker_processes_give_the_same_result(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bundle_bytes: int
) -> None:
    from ringbreaker.ingest import runner
    from ringbreaker.ingest.pipeline import Task

    monkeypatch.setattr(runner, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(runner, "BUNDLE_BYTES", bundle_bytes)
    paths = sorted(DATA.iterdir())
    assert len(runner._bundles([Task(i, str(p), str(p)) for i, p in enumerate(paths)],
                               {i: p.stat().st_size for i, p in enumerate(paths)})) > 1  # fmt: skip
    report = ingest(ws, paths, IngestConfig(jobs=2))
    assert [f.status for f in report.files] == ["ingested"] * len(paths)
    serial = open_workspace(tmp_path / "serial.duckdb")
    try:
        alone = ingest(serial, paths, IngestConfig(jobs=1))
        want = rows(serial, "SELECT id, operation, source_file, source_offset FROM events ORDER BY id")
    finally:
        serial.close()
    got = rows(ws, "SELECT id, operation, source_file, source_offset FROM events ORDER BY id")
    # A record that several sample files repeat (the GuardDuty samples) is stored once, from
    # whichever file a worker finished first: its place may differ from the serial run's, but it
    # must be one of the files that hold it. Every other record must match exactly.
    holders: dict[str, set[str]] = {}
    for i, p in enumerate(paths):
        one = open_workspace(tmp_path / f"one-{i}.duckdb")
        try:
            ingest(one, [p], IngestConfig(jobs=1))
            for (event_id,) in rows(one, "SELECT id FROM events"):
                holders.setdefault(event_id, set()).add(str(p))
        finally:
            one.close()
    assert [r[:2] for r in got] == [r[:2] for r in want]
    for g, w in zip(got, want, strict=True):
        if len(holders[g[0]]) > 1:
            assert g[2] in holders[g[0]]
        else:
            assert g == w
    # which file's copy of a repeated record counts as stored and which as a duplicate follows the
    # same race; the totals and every file's records read and quarantined do not
    counts = [(f.read, f.stored + f.duplicates, f.quarantined) for f in report.files]
    assert counts == [(f.read, f.stored + f.duplicates, f.quarantined) for f in alone.files]
    assert sum(f.stored for f in report.files) == sum(f.stored for f in alone.files)


def test_files_sharing_records_in_one_transaction(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Small files are written together; a record repeated across them (or within one) is stored once
    and counted as a duplicate of the later file, and the connection's memory limit is restored."""
    before = rows(ws, "SELECT current_setting('memory_limit')")
    text = (DATA / "cloudtrail.ndjson").read_text()
    lines = text.splitlines()
    (tmp_path / "a.ndjson").write_text(text)
    (tmp_path / "b.ndjson").write_text(text)
    (tmp_path / "c.ndjson").write_text("\n".join([lines[0], lines[0]]) + "\n")
    report = ingest(ws, [tmp_path / "a.ndjson", tmp_path / "b.ndjson", tmp_path / "c.ndjson"])
    got = [(f.read, f.stored, f.duplicates) for f in report.files]
    assert got == [(3, 3, 0), (3, 0, 3), (2, 0, 2)]
    assert rows(ws, "SELECT count(*), count(DISTINCT id) FROM events") == [(3, 3)]
    assert rows(ws, "SELECT path, records, stored, duplicates FROM ingested_files ORDER BY path") == [
        (str((tmp_path / n).resolve()), r, s, d)
        for n, (r, s, d) in zip(("a.ndjson", "b.ndjson", "c.ndjson"), got, strict=True)
    ]
    assert rows(ws, "SELECT current_setting('memory_limit')") == before


def test_a_spilled_batch_comes_back_whole(tmp_path: Path) -> None:
    """Workers hand big batches to the writer as Arrow files: the table round-trips and the file goes."""
    import pyarrow as pa

    from ringbreaker.ingest.columns import Bad
    from ringbreaker.ingest.pipeline import Batch, spill, unspill

    table = pa.table({"raw": pa.array(["{}", '{"a":1}'], pa.large_string()), "n": [1, 2]})
    sent = spill(Batch(table, [(3, Bad(7, "why", "x"))], {3: 3}), str(tmp_path), 1)
    assert sent.table is None
    assert sent.spilled is not None
    got = unspill(sent)
    assert not list(tmp_path.iterdir())
    assert got.table is not None
    assert got.table.equals(table)
    assert (got.read, got.bad, got.spilled) == ({3: 3}, [(3, Bad(7, "why", "x"))], None)


def test_a_file_ending_after_the_row_group_cut_is_recorded_with_its_last_rows(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer commits whole row groups and carries the rest: a file whose last rows are carried
    is recorded as ingested (and reported) only in the commit that stores them."""
    import numpy as np
    import pyarrow as pa

    from ringbreaker.ingest import store
    from ringbreaker.ingest.pipeline import Batch, Task, run_bundle

    monkeypatch.setattr(store, "ROW_GROUP", 4)
    path = tmp_path / "six.ndjson"
    _write_many(tmp_path / "logs", files=1, per_file=6)
    path.write_bytes(gzip.decompress((tmp_path / "logs" / "part-000.ndjson.gz").read_bytes()))
    (table,) = [
        m.table for m in run_bundle([Task(0, str(path), str(path))]) if isinstance(m, Batch) and m.table
    ]

    def rows_of(key: int, start: int, n: int) -> pa.Table:
        part = table.slice(start, n)
        return part.set_column(part.schema.get_field_index("key"), "key", pa.array(np.full(n, key, np.int32)))

    a, b = FileReport("a", read=5), FileReport("b", read=1)
    reported: list[str] = []
    w = store.Store(ws, rows=6)
    w.write(rows_of(0, 0, 5), [], {0: ("cloudtrail", "a", a)})
    w.finish_file("a", "sha-a", 10, "cloudtrail", a)
    w.after(lambda: reported.append("a"))
    w.write(rows_of(1, 5, 1), [], {1: ("cloudtrail", "b", b)})  # 6 rows queued: rows 0-3 commit
    assert rows(ws, "SELECT count(*) FROM events") == [(4,)]
    assert rows(ws, "SELECT count(*) FROM ingested_files") == [(0,)]
    assert (reported, a.stored) == ([], 4)
    w.flush()
    assert rows(ws, "SELECT count(*) FROM events") == [(6,)]
    assert rows(ws, "SELECT path, records, stored FROM ingested_files") == [("a", 5, 5)]
    assert (reported, a.stored, b.stored) == (["a"], 5, 1)


def test_commits_of_whole_row_groups_keep_every_file_whole(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups are cut at row-group multiples and the rest carried over: every record is still stored
    once, each file is recorded with its own totals, and each file is reported once, after its rows."""
    from ringbreaker.ingest import store

    paths = sorted(DATA.iterdir())
    whole = open_workspace(tmp_path / "whole.duckdb")
    try:
        ingest(whole, paths, IngestConfig(jobs=1))
        want_events = rows(whole, "SELECT id, source_file, source_offset FROM events ORDER BY id")
        want_files = rows(whole, "SELECT path, records, stored, duplicates, quarantined FROM ingested_files")
    finally:
        whole.close()

    monkeypatch.setattr(store, "ROW_GROUP", 3)
    seen: list[tuple[str, object]] = []

    def committed(rep: FileReport) -> None:
        path = rep.path
        seen.append((path, rows(ws, "SELECT count(*) FROM events WHERE source_file = ?", path)[0][0]))

    report = ingest(ws, paths, IngestConfig(jobs=1, batch=2), on_file=committed)
    assert rows(ws, "SELECT id, source_file, source_offset FROM events ORDER BY id") == want_events
    got_files = rows(ws, "SELECT path, records, stored, duplicates, quarantined FROM ingested_files")
    assert sorted(got_files) == sorted(want_files)
    assert sorted(seen) == sorted((f.path, f.stored) for f in report.files)  # once each, rows committed
    assert all(f.stored for f in report.files)
