"""Malformed records, truncated files and unknown formats: quarantined with where and why, the rest kept."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import duckdb

from ringbreaker.ingest import ingest
from tests.ingest.conftest import DATA, rows
from tests.ingest.gen import record


def _lines() -> list[str]:
    return (DATA / "cloudtrail.ndjson").read_text().splitlines()


def test_malformed_lines_are_quarantined_with_their_line_number(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    a, b, c = _lines()
    no_name = json.loads(b)
    del no_name["eventName"]
    bad_time = json.loads(c)
    bad_time["eventTime"] = "yesterday"
    bad_time["eventID"] = "other"
    p = tmp_path / "mixed.ndjson"
    p.write_text(
        "\n".join([a, '{"eventTime": "2024-', json.dumps(no_name), "", json.dumps(bad_time), c]) + "\n"
    )
    (f,) = ingest(ws, [p]).files
    assert (f.read, f.stored, f.quarantined) == (5, 2, 3)
    got = rows(ws, "SELECT source_offset, source_format, reason FROM quarantine ORDER BY source_offset")
    assert [(o, fmt) for o, fmt, _ in got] == [(2, "cloudtrail"), (3, "cloudtrail"), (5, "cloudtrail")]
    assert "not valid JSON" in str(got[0][2])
    assert "eventName" in str(got[1][2])
    assert "unparseable time 'yesterday'" in str(got[2][2])
    assert rows(ws, "SELECT source_offset FROM events ORDER BY 1") == [(1,), (6,)]
    # the raw text of a bad record is kept as read
    assert rows(ws, "SELECT raw FROM quarantine WHERE source_offset = 2") == [('{"eventTime": "2024-',)]


def test_truncated_gzip_keeps_what_was_readable(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = _lines() * 1
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = body[: len(body) - 40]
    p = tmp_path / "cut.ndjson.gz"
    p.write_bytes(cut)
    (f,) = ingest(ws, [p]).files
    assert f.stored >= 1
    assert any("truncated gzip" in n for n in f.notes)
    reasons = [str(r[0]) for r in rows(ws, "SELECT reason FROM quarantine")]
    assert f"truncated gzip at byte {len(cut)}" in reasons


def test_truncated_gzip_records_document(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    recs = [json.loads(line) for line in _lines()]
    body = json.dumps({"Records": recs}).encode()
    p = tmp_path / "cut.json.gz"
    whole = gzip.compress(body)
    # cut the stream inside the third record: the first two survive
    for n in range(len(whole) - 1, 0, -1):
        d = __import__("zlib").decompressobj(wbits=31)
        out = d.decompress(whole[:n])
        if len(out) < len(body) - 300:
            break
    p.write_bytes(whole[:n])
    (f,) = ingest(ws, [p]).files
    assert f.format == "cloudtrail"
    assert f.stored == 2
    reasons = {str(r[0]) for r in rows(ws, "SELECT reason FROM quarantine")}
    assert f"truncated gzip at byte {n}" in reasons
    assert "record cut off by truncation" in reasons


def test_unknown_format_is_quarantined_as_a_whole_file(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    p = tmp_path / "notes.json"
    p.write_text(json.dumps({"hello": "world"}))
    (f,) = ingest(ws, [p]).files
    assert (f.status, f.quarantined) == ("unknown", 1)
    got = rows(ws, "SELECT source_file, source_offset, source_format, reason, raw FROM quarantine")
    assert got == [(str(p.resolve()), None, None, f"unknown format: {f.why}", '{"hello": "world"}')]
    # not recorded as ingested: a rerun (e.g. with --format-hint) reads it again, without piling up rows
    ingest(ws, [p])
    assert rows(ws, "SELECT count(*) FROM quarantine") == [(1,)]
    assert rows(ws, "SELECT count(*) FROM ingested_files") == [(0,)]


def test_unknown_files_inside_a_directory_are_ignored(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    (tmp_path / "truth.json").write_text(json.dumps({"keys": []}))
    (tmp_path / "trail.ndjson").write_text((DATA / "cloudtrail.ndjson").read_text())
    report = ingest(ws, [tmp_path])
    assert sorted(f.status for f in report.files) == ["ignored", "ingested"]
    assert rows(ws, "SELECT count(*) FROM quarantine") == [(0,)]


def test_a_non_object_record_in_an_array(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    recs: list[object] = [json.loads(line) for line in _lines()]
    recs.insert(1, "oops")
    p = tmp_path / "a.json"
    p.write_text(json.dumps(recs))
    (f,) = ingest(ws, [p]).files
    assert (f.stored, f.quarantined) == (3, 1)
    assert rows(ws, "SELECT source_offset FROM quarantine") == [(1,)]


def test_bad_record_deep_in_a_big_records_file(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Records are decoded in slices of one buffer, a few thousand per call: a bad record far in
    quarantines only itself, with its index, in whichever slice it falls."""
    rng = random.Random(1)
    recs: list[object] = [record(rng, i) for i in range(20_000)]
    recs[12_345] = {"eventSource": "bedrock.amazonaws.com", "eventName": "InvokeModel"}  # no time
    recs[17_000] = [1, 2]
    p = tmp_path / "big.json.gz"
    p.write_bytes(gzip.compress(json.dumps({"Records": recs}, separators=(",", ":")).encode()))
    (f,) = ingest(ws, [p]).files
    assert (f.read, f.stored, f.quarantined) == (20_000, 19_998, 2)
    assert rows(ws, "SELECT source_offset FROM quarantine ORDER BY 1") == [(12_345,), (17_000,)]
    assert rows(ws, "SELECT min(source_offset), max(source_offset) FROM events") == [(0, 19_999)]
