"""A malformed record inside a JSON array or a records envelope is quarantined alone; its siblings
are stored. Also NaN/Infinity read as null, and records nested too deeply quarantined alone."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.ingest.tolerant import TOO_DEEP
from tests.ingest.conftest import DATA, rows
from tests.ingest.gen import record


def _records(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps(record(rng, i), separators=(",", ":")) for i in range(n)]


def _stored_offsets(ws: duckdb.DuckDBPyConnection) -> list[int]:
    return [int(str(r[0])) for r in rows(ws, "SELECT source_offset FROM events ORDER BY 1")]


def _quarantine(ws: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return rows(ws, "SELECT source_offset, reason, raw FROM quarantine ORDER BY source_offset")


def test_records_file_with_a_record_cut_short_keeps_every_other(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    recs = _records(2000)
    broken = recs[11][:-30]  # its end lost inside a string: the quotes that follow are out of step
    recs[11] = broken
    p = tmp_path / "ct.json"
    p.write_text('{"Records":[' + ",".join(recs) + "]}")
    (f,) = ingest(ws, [p]).files
    assert (f.read, f.stored, f.quarantined) == (2000, 1999, 1)
    assert _stored_offsets(ws) == [i for i in range(2000) if i != 11]
    ((off, reason, raw),) = _quarantine(ws)
    assert off == 11
    assert "not valid JSON" in str(reason)
    assert raw == broken  # the broken record's own text, not its neighbours'
    assert any("kept 1999 record(s), quarantined 1" in n for n in f.notes)


def test_array_with_bad_tokens_and_a_lost_bracket(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    recs = _records(40)
    recs[3] = recs[3].replace(
        '"managementEvent":true', '"managementEvent":tru'
    )  # a bad literal, brackets intact
    recs[4] = recs[4].replace('"managementEvent":true', '"managementEvent":tru')
    recs[20] = recs[20].replace("},", "", 1)  # one closing brace lost: its end is where the next one's is
    recs[39] = recs[39][:-1]  # the last one never closes
    p = tmp_path / "arr.json"
    p.write_text("[\n  " + ",\n  ".join(recs) + "\n]\n")
    (f,) = ingest(ws, [p]).files
    assert f.shape == "array"
    assert (f.read, f.stored, f.quarantined) == (40, 36, 4)
    assert [r[0] for r in _quarantine(ws)] == [3, 4, 20, 39]
    assert _stored_offsets(ws) == [i for i in range(40) if i not in (3, 4, 20, 39)]
    texts = {r[0]: str(r[2]) for r in _quarantine(ws)}
    assert texts[3] == recs[3]
    assert texts[20] == recs[20]
    assert texts[39] == recs[39]


def test_broken_record_with_an_inner_list_of_objects_is_not_split(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    recs = [json.loads(r) for r in _records(6)]
    recs[2]["resources"] = [{"ARN": "arn:aws:bedrock:::a"}, {"ARN": "arn:aws:bedrock:::b"}]
    texts = [json.dumps(r) for r in recs]
    texts[2] = texts[2].replace('"eventSource": "', '"eventSource": ', 1)  # a quote lost before the list
    p = tmp_path / "ct.json"
    p.write_text('{"Records": [' + ", ".join(texts) + "]}")
    (f,) = ingest(ws, [p]).files
    assert (f.read, f.stored, f.quarantined) == (6, 5, 1)
    assert _quarantine(ws)[0][:1] == (2,)
    assert _quarantine(ws)[0][2] == texts[2]


def test_openai_page_keeps_keys_after_the_list(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    doc = json.loads((DATA / "openai-audit.json").read_text())
    items = [json.dumps(d) for d in doc["data"]]
    assert len(items) >= 2
    items[0] = items[0][:-1] + ', "oops": }'
    p = tmp_path / "page.json"
    p.write_text('{"object": "list", "data": [' + ", ".join(items) + '], "has_more": false, "last_id": "x"}')
    (f,) = ingest(ws, [p]).files
    assert f.format == "openai-audit"
    assert (f.read, f.stored, f.quarantined) == (len(items), len(items) - 1, 1)
    assert _quarantine(ws)[0][:1] == (0,)


def test_document_cut_off_keeps_every_complete_record(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    recs = _records(30)
    body = '{"Records":[' + ",".join(recs) + "]}"
    cut = body[: body.index(recs[25]) + 200]
    p = tmp_path / "cut.json"
    p.write_text(cut)
    (f,) = ingest(ws, [p]).files
    assert (f.read, f.stored, f.quarantined) == (26, 25, 1)
    ((off, reason, raw),) = _quarantine(ws)
    assert off == 25
    assert raw == recs[25][:200]
    assert "does not end" in str(reason)


def test_nan_and_infinity_are_read_as_null(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    recs = [json.loads(r) for r in _records(5)]
    recs[1]["additionalEventData"] = {
        "ratio": float("nan"),
        "hi": float("inf"),
        "lo": float("-inf"),
        "s": "NaN",
    }
    p = tmp_path / "ct.json"
    p.write_text(json.dumps({"Records": recs}))  # Python's json writes NaN, Infinity, -Infinity
    assert "NaN" in p.read_text()
    lines = (DATA / "litellm-spendlogs.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["prompt_tokens"], rec["completion_tokens"], rec["spend"] = float("nan"), float("inf"), float("-inf")
    q = tmp_path / "spend.jsonl"
    q.write_text(json.dumps(rec) + "\n" + "\n".join(lines[1:]) + "\n")
    a, b = ingest(ws, [p, q], IngestConfig(keep_raw=True)).files  # raw read below
    assert (a.stored, a.quarantined) == (5, 0)
    assert any("NaN/Infinity read as null" in n for n in a.notes)
    (raw,) = rows(ws, "SELECT raw FROM events WHERE source_format = 'cloudtrail' AND source_offset = 1")[0]
    extra = json.loads(str(raw))["additionalEventData"]
    assert extra == {"ratio": None, "hi": None, "lo": None, "s": "NaN"}  # a string "NaN" stays a string
    assert (b.stored, b.quarantined) == (len(lines), 0)
    got = rows(
        ws,
        "SELECT tokens_in, tokens_out FROM events WHERE source_format = 'litellm-spendlogs' "
        "AND source_offset = 1",
    )
    assert got == [(None, None)]


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def test_a_record_nested_50k_deep_is_quarantined_alone(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    a, b, c = _records(3)
    deep = a[:-1] + ',"deep":' + _deep(50_000) + "}"
    shapes = {
        "env.json": '{"Records":[' + ",".join([b, deep, c]) + "]}",
        "arr.json": "[" + ",".join([b, deep, c]) + "]",
        "lines.ndjson": "\n".join([b, deep, c]) + "\n",
    }
    for name, body in shapes.items():
        (tmp_path / name).write_text(body)
    got = ingest(ws, [tmp_path / n for n in shapes]).files
    for f in got:
        assert f.status == "ingested", (f.path, f.why)
        assert (f.read, f.stored + f.duplicates, f.quarantined) == (3, 2, 1), f.path
    reasons = rows(ws, "SELECT source_offset, reason FROM quarantine ORDER BY source_file")
    assert sorted(reasons, key=str) == sorted([(1, TOO_DEEP), (1, TOO_DEEP), (2, TOO_DEEP)], key=str)
    # each file's siblings: b and c (the same events in the three files)
    assert rows(ws, "SELECT count(*) FROM events") == [(2,)]
