"""Evidence by reference on real files: ingest keeps each source file by SHA-256 beside the
workspace, events cite file hash + position, and ``show`` reads the record back verified; a changed
or missing evidence file is refused naming it; ``--keep-raw`` keeps today's raw records; an old
workspace migrates and keeps working; appended lines (``watch``) are their own blobs."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from ringbreaker.errors import EvidenceError
from ringbreaker.ingest import Appended, IngestConfig, ingest, ingest_appended, read_record
from ringbreaker.workspace import migrations, open_workspace
from ringbreaker.workspace.evidence import EvidenceStore, default_dir
from tests.conftest import rb
from tests.ingest.conftest import DATA

FIXTURES = sorted(p.name for p in DATA.iterdir() if p.is_file())


def _ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        str(r[0])
        for r in con.execute("SELECT id FROM events ORDER BY source_file, source_offset, id").fetchall()
    ]


def _gz_cloudtrail(tmp_path: Path) -> Path:
    """The CloudTrail fixture as S3 delivers it: one gzip'd {"Records": [...]} document."""
    recs = [
        json.loads(line) for line in (DATA / "cloudtrail.ndjson").read_text().splitlines() if line.strip()
    ]
    out = tmp_path / "123456789012_CloudTrail_us-east-1_20240712T0915Z_abc.json.gz"
    out.write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    return out


def test_store_put_is_content_addressed_idempotent_and_verified(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_bytes(b'{"x": 1}\n')
    store = EvidenceStore(tmp_path / "ev")
    one, two = store.put_file(src), store.put_file(src)
    sha = hashlib.sha256(b'{"x": 1}\n').hexdigest()
    assert one.sha256 == two.sha256 == sha
    assert one.path == store.blob(sha)
    assert one.path.stat().st_ino == src.stat().st_ino
    assert list((tmp_path / "ev" / "tmp").iterdir()) == []  # no temporary file left behind
    assert store.read(sha) == b'{"x": 1}\n'
    assert store.put_bytes(b"chunk\n").sha256 == hashlib.sha256(b"chunk\n").hexdigest()
    with open(src, "ab") as f:  # a source edited in place changes its hard link: the check says so
        f.write(b'{"x": 2}\n')
    with pytest.raises(EvidenceError, match="does not match its hash"):
        store.read(sha)
    with pytest.raises(EvidenceError, match="missing"):
        store.read("0" * 64)


def test_store_copies_atomically_when_it_cannot_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another filesystem (os.link fails with EXDEV): a copy, fsynced, renamed into place, read-only."""
    src = tmp_path / "b.json"
    src.write_bytes(b'{"Records": []}')

    def cross_device(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    put = EvidenceStore(tmp_path / "ev").put_file(src, read=True)
    assert put.data == b'{"Records": []}'
    assert put.path.stat().st_ino != src.stat().st_ino
    assert put.path.read_bytes() == src.read_bytes()
    assert not os.access(put.path, os.W_OK) or os.geteuid() == 0


@pytest.mark.parametrize("name", FIXTURES)
def test_show_returns_the_record_the_raw_path_stores(tmp_path: Path, name: str) -> None:
    """Every fixture, both paths: the record read back from evidence is the record --keep-raw keeps
    (JSON-equal; GuardDuty keeps the EventBridge event's detail as raw), and for NDJSON it is the
    file's line byte for byte."""
    by_ref = open_workspace(tmp_path / "ref.duckdb")
    kept = open_workspace(tmp_path / "raw.duckdb")
    ingest(by_ref, [DATA / name])
    ingest(kept, [DATA / name], IngestConfig(keep_raw=True))
    ids = _ids(by_ref)
    assert ids
    assert ids == _ids(kept)
    lines = (DATA / name).read_bytes().splitlines()
    sha = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    for event_id in ids:
        rec = read_record(by_ref, event_id)
        assert (rec.origin, rec.verified, rec.source_sha256) == ("evidence", True, sha)
        (raw,) = kept.execute("SELECT raw FROM events WHERE id = ?", [event_id]).fetchone() or (None,)
        got, want = json.loads(rec.text), json.loads(str(raw))
        assert got == want or got.get("detail") == want
        if name.endswith(".jsonl") and rec.source_offset is not None:
            assert rec.text.encode() == lines[rec.source_offset - 1]
    assert kept.execute("SELECT count(*) FROM events WHERE source_sha256 = ?", [sha]).fetchone() == (
        len(ids),
    )
    assert kept.execute("SELECT count(*) FROM evidence").fetchone() == (0,)  # --keep-raw keeps no files
    assert not default_dir(tmp_path / "raw.duckdb").exists()


def test_raw_is_kept_only_where_rules_read_it(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "ws.duckdb")
    ingest(con, [DATA / "cloudtrail.ndjson", DATA / "litellm-spendlogs.jsonl", DATA / "guardduty.jsonl"])
    got = con.execute(
        "SELECT source_format, operation, raw IS NOT NULL FROM events "
        "WHERE source_format IN ('cloudtrail', 'litellm-spendlogs') ORDER BY source_format, source_offset"
    ).fetchall()
    assert got == [
        ("cloudtrail", "GetCallerIdentity", True),
        ("cloudtrail", "InvokeModel", False),  # a model call: cited only
        ("cloudtrail", "GetModelInvocationLoggingConfiguration", True),
        ("litellm-spendlogs", "acompletion", False),
        ("litellm-spendlogs", "aimage_generation", False),
    ]
    assert con.execute(
        "SELECT bool_and(raw IS NOT NULL) FROM events WHERE source_format = 'guardduty'"
    ).fetchone() == (True,)


def test_show_cli_verifies_and_refuses_tampered_or_missing_evidence(tmp_path: Path) -> None:
    gz = _gz_cloudtrail(tmp_path)
    ws = tmp_path / "case.duckdb"
    assert rb("ingest", str(gz), "--workspace", str(ws)).returncode == 0
    con = duckdb.connect(str(ws), read_only=True)
    event_id, offset = con.execute(
        "SELECT id, source_offset FROM events WHERE operation = 'InvokeModel'"
    ).fetchone() or ("", 0)
    con.close()
    ok = rb("show", event_id, "--workspace", str(ws))
    assert ok.returncode == 0, ok.stderr
    want = json.loads(gzip.decompress(gz.read_bytes()))["Records"][offset]
    assert json.loads(ok.stdout) == want
    sha = hashlib.sha256(gz.read_bytes()).hexdigest()
    assert f"verified, sha256 {sha}" in ok.stderr
    doc = json.loads(rb("show", event_id, "--workspace", str(ws), "--format", "json").stdout)
    assert doc["record"] == want
    assert doc["verified"] is True
    assert doc["source_sha256"] == sha
    assert doc["source_offset"] == offset
    assert doc["origin"] == "evidence"
    blob = default_dir(ws) / "objects" / sha[:2] / sha
    assert blob.stat().st_ino == gz.stat().st_ino  # same filesystem: a hard link, no copy
    # tampered: the S3 object is rewritten in place (its hard link with it)
    gz.write_bytes(gzip.compress(b'{"Records": []}'))
    bad = rb("show", event_id, "--workspace", str(ws))
    assert bad.returncode == 2
    assert str(blob) in bad.stderr
    assert "does not match its hash" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert bad.stdout == ""
    blob.unlink()
    gone = rb("show", event_id, "--workspace", str(ws), "--format", "json")
    assert gone.returncode == 2
    assert str(blob) in gone.stderr
    assert "missing" in gone.stderr
    nothing = rb("show", "no-such-event", "--workspace", str(ws))
    assert nothing.returncode == 2
    assert "no event with id 'no-such-event'" in nothing.stderr
    assert rb("show", event_id, "--workspace", str(tmp_path / "none.duckdb")).returncode == 2


def test_keep_raw_cli_shows_from_the_workspace_unverified(tmp_path: Path) -> None:
    ws = tmp_path / "w.duckdb"
    assert (
        rb("ingest", str(DATA / "bedrock-invocation.jsonl"), "--keep-raw", "--workspace", str(ws)).returncode
        == 0
    )
    assert not default_dir(ws).exists()
    con = duckdb.connect(str(ws), read_only=True)
    (event_id, raw) = con.execute("SELECT id, raw FROM events LIMIT 1").fetchone() or ("", "")
    con.close()
    got = rb("show", event_id, "--workspace", str(ws), "--format", "jsonl")
    assert got.returncode == 0
    doc = json.loads(got.stdout)
    assert (doc["origin"], doc["verified"], doc["evidence_file"]) == ("workspace", False, None)
    assert doc["record"] == json.loads(raw)


def test_evidence_dir_option_is_recorded_and_found_again(tmp_path: Path) -> None:
    ws, ev = tmp_path / "w.duckdb", tmp_path / "vault"
    assert (
        rb(
            "ingest", str(DATA / "openai-audit.json"), "--workspace", str(ws), "--evidence", str(ev)
        ).returncode
        == 0
    )
    assert (
        rb("ingest", str(DATA / "azure-diagnostics.json"), "--workspace", str(ws)).returncode == 0
    )  # recorded dir
    assert not default_dir(ws).exists()
    assert len(list((ev / "objects").rglob("*"))) == 4
    con = duckdb.connect(str(ws), read_only=True)
    ids = [r[0] for r in con.execute("SELECT id FROM events").fetchall()]
    con.close()
    assert rb("show", *ids, "--workspace", str(ws), "-q").returncode == 0


def test_old_workspace_migrates_and_keeps_its_raw_records(tmp_path: Path) -> None:
    """A workspace at version 12 (raw in every row, no evidence) is migrated: its events show from
    raw, new ingests add references next to them."""
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, title VARCHAR, applied_at TIMESTAMPTZ)"
    )
    for v, title, sql in migrations():
        if v <= 12:
            old.execute(sql)
            old.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [v, title])
    old.close()
    # the events an older ringbreaker stored: the same rows, raw in each, no source_sha256 column
    new = open_workspace(tmp_path / "new.duckdb")
    ingest(new, [DATA / "cloudtrail.ndjson"], IngestConfig(keep_raw=True))
    new.execute(f"ATTACH '{path}' AS o")
    cols = [r[0] for r in new.execute("DESCRIBE o.events").fetchall()]
    new.execute(f"INSERT INTO o.events SELECT {', '.join(cols)} FROM events")
    new.execute("DETACH o")
    new.close()
    ro = duckdb.connect(str(path), read_only=True)  # `show` reads an unmigrated file read-only
    first = str((ro.execute("SELECT id FROM events LIMIT 1").fetchone() or ("",))[0])
    assert read_record(ro, first).origin == "workspace"
    ro.close()
    con = open_workspace(path)
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (
        max(v for v, _, _ in migrations()),
    )
    assert con.execute("SELECT count(*), count(source_sha256) FROM events").fetchone() == (3, 0)
    assert all(read_record(con, i).origin == "workspace" for i in _ids(con))
    ingest(con, [DATA / "litellm-spendlogs.jsonl"])
    assert con.execute("SELECT count(source_sha256) FROM events").fetchone() == (2,)
    assert {read_record(con, i).origin for i in _ids(con)} == {"workspace", "evidence"}


def test_appended_chunks_are_their_own_blobs(tmp_path: Path) -> None:
    """watch hands over the lines appended since the last read: each chunk is kept as a blob, cited
    with the file's own line numbers."""
    lines = (DATA / "litellm-spendlogs.jsonl").read_bytes().splitlines(keepends=True)
    first, second = lines[0], b"".join(lines[1:])
    log = tmp_path / "spend.jsonl"
    log.write_bytes(first + second)
    con = open_workspace(tmp_path / "ws.duckdb")
    whole = hashlib.sha256
    ingest_appended(con, [Appended(str(log), first, 1, len(first), whole(first).hexdigest())])
    ingest_appended(
        con, [Appended(str(log), second, 2, len(first + second), whole(first + second).hexdigest())]
    )
    got = con.execute("SELECT source_offset, source_sha256 FROM events ORDER BY source_offset").fetchall()
    assert got == [(1, whole(first).hexdigest()), (2, whole(second).hexdigest())]
    assert con.execute("SELECT line_base FROM evidence ORDER BY line_base").fetchall() == [(0,), (1,)]
    for event_id in _ids(con):
        rec = read_record(con, event_id)
        assert rec.verified
        assert rec.text.encode() == lines[int(rec.source_offset or 0) - 1].rstrip(b"\n")
    log.write_bytes(b"")  # the followed file rotated away: its chunks are still evidence
    assert all(read_record(con, i).verified for i in _ids(con))


def test_streamed_and_parquet_files_are_cited_and_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big files (streamed in blocks from the blob) and Parquet (row numbers) read back verified."""
    from ringbreaker.ingest import pipeline
    from tests.ingest.ocsf_lake import write_lake_parquet

    monkeypatch.setattr(pipeline, "STREAM_BYTES", 0)  # every file streams
    monkeypatch.setattr(pipeline, "STREAM_BLOCK", 1000)  # in blocks of a few lines
    gz = tmp_path / "bedrock.jsonl.gz"
    gz.write_bytes(gzip.compress((DATA / "bedrock-invocation.jsonl").read_bytes()))
    lake = write_lake_parquet(tmp_path / "lake.parquet")
    con = open_workspace(tmp_path / "ws.duckdb")
    ingest(con, [gz, lake], IngestConfig(jobs=1))
    got = con.execute(
        "SELECT source_format, count(*), count(source_sha256) FROM events GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert got == [("bedrock-invocation", 3, 3), ("ocsf", 4, 4)]
    lines = (DATA / "bedrock-invocation.jsonl").read_bytes().splitlines()
    for event_id in _ids(con):
        rec = read_record(con, event_id)
        assert rec.verified
        if rec.source_format == "bedrock-invocation":
            assert rec.text.encode() == lines[int(rec.source_offset or 0) - 1]
        else:
            assert json.loads(rec.text)["class_uid"] in (6003, 3002)


def test_show_redacts_a_credential_the_record_holds(tmp_path: Path, keygen: Callable[[str], str]) -> None:
    key = keygen("sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}")
    line = json.loads((DATA / "litellm-spendlogs.jsonl").read_text().splitlines()[0])
    line["user"] = f"pasted {key} here"
    log = tmp_path / "spend.jsonl"
    log.write_text(json.dumps(line) + "\n")
    ws = tmp_path / "case.duckdb"
    assert rb("ingest", str(log), "--workspace", str(ws)).returncode == 0
    con = duckdb.connect(str(ws), read_only=True)
    (event_id,) = con.execute("SELECT id FROM events").fetchone() or ("",)
    con.close()
    for fmt in ("table", "json", "jsonl"):
        out = rb("show", event_id, "--workspace", str(ws), "--format", fmt)
        assert out.returncode == 0, out.stderr
        assert key not in out.stdout + out.stderr
        text = out.stdout if fmt == "table" else json.loads(out.stdout)["text"]
        assert f"{key[:4]}…({len(key)})" in text
    assert "verified" in rb("show", event_id, "--workspace", str(ws)).stderr
