"""Files not in plain UTF-8 are transcoded and ingested, and the file report says which encoding
was assumed: a UTF-8 BOM, UTF-16 (LE/BE, with or without BOM), Latin-1 for lines that are not UTF-8."""

from __future__ import annotations

import codecs
import gzip
import json
import random
from pathlib import Path

import duckdb
import pytest

from ringbreaker.ingest import ingest
from tests.ingest.conftest import rows
from tests.ingest.gen import record


def _doc(n: int = 20, agent: str = "Boto3/1.34 caf\u00e9-\u00fcber") -> str:
    rng = random.Random(5)
    recs = [record(rng, i) for i in range(n)]
    recs[0]["userAgent"] = agent
    return json.dumps({"Records": recs}, ensure_ascii=False)


@pytest.mark.parametrize(
    ("prefix", "codec", "note"),
    [
        (codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE (BOM)"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE (BOM)"),
        (b"", "utf-16-le", "UTF-16LE (no BOM)"),
        (b"", "utf-16-be", "UTF-16BE (no BOM)"),
    ],
)
def test_bom_and_utf16_are_read(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path, prefix: bytes, codec: str, note: str
) -> None:
    p = tmp_path / "ct.json.gz"
    p.write_bytes(gzip.compress(prefix + _doc().encode(codec)))
    (f,) = ingest(ws, [p]).files
    assert (f.status, f.format, f.stored, f.quarantined) == ("ingested", "cloudtrail", 20, 0)
    assert any(n.startswith("encoding: ") and note in n for n in f.notes), f.notes
    assert rows(ws, "SELECT user_agent FROM events WHERE source_offset = 0") == [
        ("Boto3/1.34 caf\u00e9-\u00fcber",)
    ]


def test_latin1_lines_are_read_as_latin1_and_utf8_lines_as_utf8(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rng = random.Random(9)
    recs = [record(rng, i) for i in range(4)]
    recs[1]["userAgent"] = "Se\u00f1or/1.0"
    recs[2]["userAgent"] = "na\u00efve/2.0"
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in recs]
    lines[1] = json.dumps(recs[1], ensure_ascii=False).encode("latin-1")  # one line from another tool
    p = tmp_path / "mixed.ndjson"
    p.write_bytes(b"\n".join(lines) + b"\n")
    (f,) = ingest(ws, [p]).files
    assert (f.stored, f.quarantined) == (4, 0)
    assert "encoding: 1 line(s) not valid UTF-8, read as Latin-1" in f.notes
    got = rows(ws, "SELECT source_offset, user_agent FROM events WHERE source_offset IN (2, 3) ORDER BY 1")
    assert got == [(2, "Se\u00f1or/1.0"), (3, "na\u00efve/2.0")]


def test_a_latin1_document_is_ingested(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    p = tmp_path / "ct.json"
    p.write_bytes(_doc(agent="R\u00e9sum\u00e9").encode("latin-1"))
    (f,) = ingest(ws, [p]).files
    assert (f.stored, f.quarantined) == (20, 0)
    assert any("read as Latin-1" in n for n in f.notes)
    assert rows(ws, "SELECT user_agent FROM events WHERE source_offset = 0") == [("R\u00e9sum\u00e9",)]


def test_plain_utf8_has_no_encoding_note(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    p = tmp_path / "ct.json"
    p.write_text(_doc(), encoding="utf-8")
    (f,) = ingest(ws, [p]).files
    assert f.stored == 20
    assert not [n for n in f.notes if n.startswith("encoding:")]
