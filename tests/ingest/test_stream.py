"""Big files are read block by block: what they store, quarantine and report is what a whole read gives."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

import pytest
import zstandard

from ringbreaker.ingest import IngestConfig, ingest, pipeline
from ringbreaker.workspace import open_workspace
from tests.ingest.conftest import DATA, rows
from tests.ingest.gen import record


def _inputs(root: Path) -> list[Path]:
    """Every sample, and NDJSON logs of many lines in each compression, broken in the usual ways."""
    root.mkdir()
    rng = random.Random(11)
    lines = [json.dumps(record(rng, i)) for i in range(400)]
    lines[17] = lines[17][:40]  # a malformed line
    body = ("\n".join(lines) + "\n").encode()
    (root / "big.ndjson").write_bytes(body)
    (root / "crlf.ndjson").write_bytes(body.replace(b"\n", b"\r\n"))
    (root / "big.ndjson.zst").write_bytes(zstandard.ZstdCompressor().compress(body))
    half = len(body) // 2
    members = gzip.compress(body[:half]) + gzip.compress(body[half:])  # two gzip members
    (root / "members.ndjson.gz").write_bytes(members)
    (root / "cut.ndjson.gz").write_bytes(members[:-300])  # truncated inside the second member
    (root / "garbage.ndjson.gz").write_bytes(gzip.compress(body) + b"\0\0\0trailing")
    envelopes = "\n".join(
        json.dumps({"Records": [record(rng, 1000 + 10 * k + j) for j in range(10)]}) for k in range(30)
    )
    (root / "envelopes.json").write_text(envelopes + "\n")
    return sorted(DATA.iterdir()) + sorted(root.iterdir())


def _state(path: Path, files: list[Path]) -> dict[str, object]:
    con = open_workspace(path)
    try:
        report = ingest(con, files, IngestConfig(jobs=1))
        return {
            "files": [
                (Path(f.path).name, f.format, f.shape, f.read, f.stored, f.quarantined, f.notes)
                for f in report.files
            ],
            "events": rows(con, "SELECT id, source_file, source_offset, raw FROM events ORDER BY id"),
            "quarantine": rows(
                con, "SELECT source_file, source_offset, reason, raw FROM quarantine ORDER BY ALL"
            ),
            "ingested": rows(con, "SELECT path, sha256, size, records FROM ingested_files ORDER BY path"),
        }
    finally:
        con.close()


def test_streamed_files_give_what_whole_reads_give(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _inputs(tmp_path / "in")
    whole = _state(tmp_path / "whole.duckdb", files)
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 0)  # every file streams
    monkeypatch.setattr(pipeline, "STREAM_BLOCK", 1000)  # in blocks of a few lines
    streamed = _state(tmp_path / "streamed.duckdb", files)
    assert streamed == whole
    by_name = {f[0]: f for f in whole["files"]}  # type: ignore[attr-defined]
    for name in ("big.ndjson", "crlf.ndjson", "big.ndjson.zst", "members.ndjson.gz", "garbage.ndjson.gz"):
        assert (by_name[name][3], by_name[name][5]) == (400, 1)  # read, quarantined (the same records)
    assert any("truncated gzip" in n for n in by_name["cut.ndjson.gz"][6])
    assert by_name["envelopes.json"][3:5] == (300, 300)
    for path, sha, size, _ in whole["ingested"]:  # type: ignore[attr-defined]
        data = Path(str(path)).read_bytes()
        assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_a_big_file_is_read_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream never holds the whole file: blocks end at line breaks and cover it exactly."""
    from ringbreaker.ingest.readers import Stream

    body = b"".join(b'{"n": %d}\n' % i for i in range(5000))
    p = tmp_path / "x.ndjson.gz"
    p.write_bytes(gzip.compress(body))
    monkeypatch.setattr("ringbreaker.ingest.readers.PIECE", 512)
    s = Stream(str(p), 4096)
    blocks = list(s.blocks())
    assert len(blocks) > 10
    assert all(b.endswith(b"\n") and 4096 <= len(b) < 4096 + 64 * 1024 for b in blocks[:-1])
    assert b"".join(blocks) == body
    assert (s.compression, s.truncated_at, s.size) == ("gzip", None, p.stat().st_size)
    assert s.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
