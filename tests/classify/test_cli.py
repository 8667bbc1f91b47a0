"""`ringbreaker classify` as a real subprocess: text arguments, JSONL files, a real DuckDB workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringbreaker.workspace import open_workspace
from tests.conftest import rb

from .conftest import coco, jailbreakbench

FIELDS = {
    "index",
    "bypass",
    "sexual",
    "real_person",
    "minor",
    "severity",
    "labels",
    "thresholds",
    "model_version",
}


def test_text_arguments_jsonl_fields() -> None:
    r = rb("classify", "A bicycle parked next to a bench.", "Three dogs on a sofa.", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["index"] for x in lines] == [0, 1]
    for x in lines:
        assert set(x) == FIELDS
        assert x["severity"] == "none"
        assert x["labels"] == []
        assert set(x["thresholds"]) == {"bypass", "sexual", "real_person", "minor", "sexual_with_minor"}


def test_file_with_ids_and_exit_code(tmp_path: Path, prompts_dir: Path) -> None:
    jb = jailbreakbench(prompts_dir, "JBC__manual__gpt-4-0125-preview.json")
    caps = coco(prompts_dir)
    f = tmp_path / "in.jsonl"
    f.write_text(
        json.dumps({"id": "cap", "text": caps["000000203564"]})
        + "\n\n"
        + json.dumps({"id": "jb", "text": jb[0]})
        + "\n"
    )
    r = rb("classify", "--file", str(f), "--format", "jsonl")
    assert r.returncode == 1, r.stderr  # one prompt at medium or above
    out = {x["id"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert out["cap"]["severity"] == "none"
    assert out["cap"]["index"] == 0
    assert "bypass" in out["jb"]["labels"]
    assert out["jb"]["severity"] in {"medium", "high", "critical"}


def test_stdin_and_bad_input(tmp_path: Path) -> None:
    r = rb("classify", "--file", "-", "--format", "json", stdin='{"text": "A red kite over a beach."}\n')
    assert r.returncode == 0
    assert json.loads(r.stdout)[0]["severity"] == "none"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"prompt": 3}\n')
    r = rb("classify", "--file", str(bad))
    assert r.returncode == 2
    assert "bad.jsonl:2" in r.stderr
    r = rb("classify", "x", "--file", str(bad))
    assert r.returncode == 2
    r = rb("classify", "--workspace", str(tmp_path / "missing.duckdb"))
    assert r.returncode == 2
    assert "no workspace" in r.stderr


def _events(ws: Path, prompts: list[str | None]) -> None:
    con = open_workspace(ws)
    try:
        for i, p in enumerate(prompts):
            con.execute(
                "INSERT INTO events (id, time, provider, operation, status, prompt, source_format, "
                "source_file) "
                "VALUES (?, TIMESTAMPTZ '2026-01-01 00:00:00+00', 'gateway', 'acompletion', 'success', ?, "
                "'litellm-spendlogs', 'f')",
                [f"ev{i:03d}", p],
            )
    finally:
        con.close()


def test_workspace_incremental(tmp_path: Path, prompts_dir: Path) -> None:
    caps = list(coco(prompts_dir).values())[:30]
    jb = list(jailbreakbench(prompts_dir, "JBC__manual__gpt-4-0125-preview.json").values())[:3]
    ws = tmp_path / "ws.duckdb"
    _events(ws, [*caps, *jb, None, None])
    r = rb("classify", "--workspace", str(ws), "--format", "json", "--batch-size", "7")
    assert r.returncode == 1, r.stderr
    first = json.loads(r.stdout)
    assert first["scored"] == 33
    assert first["already_scored"] == 0
    assert first["severity"].get("medium", 0) + first["severity"].get("high", 0) >= 3
    # the three jailbreaks go on to the second stage; most captions are cleared by the first
    assert 3 <= first["routed"] <= 10
    r = rb("classify", "--workspace", str(ws), "--format", "json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["scored"] == 0
    assert again["already_scored"] == 33
    assert again["routed"] == 0
    con = open_workspace(ws)
    try:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT model_version), min(bypass) >= 0, max(bypass) <= 1 FROM verdicts"
        ).fetchall()
        assert rows == [(33, 1, True, True)]
        # a verdict from an older model version is re-scored (upsert), not duplicated
        con.execute("UPDATE verdicts SET model_version = 'old', severity = 'none' WHERE event_id = 'ev031'")
    finally:
        con.close()
    r = rb("classify", "--workspace", str(ws), "--format", "json")
    assert json.loads(r.stdout)["scored"] == 1
    con = open_workspace(ws)
    try:
        sev = con.execute("SELECT severity, labels FROM verdicts WHERE event_id = 'ev031'").fetchall()
        assert sev[0][0] in {"medium", "high", "critical"}
        assert "bypass" in sev[0][1]
        assert con.execute("SELECT count(*) FROM verdicts").fetchall() == [(33,)]
    finally:
        con.close()


@pytest.mark.parametrize("flag", ["--help"])
def test_help_teaches(flag: str) -> None:
    r = rb("classify", flag)
    assert r.returncode == 0
    assert "Examples:" in r.stdout
    assert "--workspace" in r.stdout


def test_first_stage_only_is_its_own_version_with_its_own_thresholds(
    tmp_path: Path, prompts_dir: Path
) -> None:
    from ringbreaker.classify import default_model

    full = default_model()
    r = rb("classify", "--first-stage-only", "--format", "jsonl", "A cat on a mat.", "Tell me about Rome.")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert {x["model_version"] for x in lines} == {full.version + "-s1"}
    th = lines[0]["thresholds"]
    assert th["bypass"] == full.meta["thresholds"]["bypass"]["first_stage"]
    assert "sexual_with_minor" not in th
    # a workspace scored by the first stage alone is re-scored by the cascade later
    caps = list(coco(prompts_dir).values())[:5]
    ws = tmp_path / "ws.duckdb"
    _events(ws, caps)
    fast = json.loads(rb("classify", "--workspace", str(ws), "--first-stage-only", "--format", "json").stdout)
    assert (fast["scored"], fast["routed"], fast["model_version"]) == (5, 0, full.version + "-s1")
    slow = json.loads(rb("classify", "--workspace", str(ws), "--format", "json").stdout)
    assert (slow["scored"], slow["model_version"]) == (5, full.version)


def test_a_lone_surrogate_in_a_file_is_scored_and_shown(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text('{"text": "hello \\ud800 world"}\n{"text": "a cat"}\n', encoding="utf-8")
    for fmt in ("jsonl", "table"):
        r = rb("classify", "--file", str(f), "--format", fmt)
        assert r.returncode == 0, r.stderr
        assert "internal error" not in r.stderr
    r = rb("classify", "--file", str(f), "--format", "jsonl")
    assert [json.loads(x)["index"] for x in r.stdout.splitlines()] == [0, 1]
