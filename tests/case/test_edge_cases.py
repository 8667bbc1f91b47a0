"""`case` on hostile log fields (escaping) and on a crew the workspace knows almost nothing about."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
from stix2validator import ValidationOptions, validate_string

from ringbreaker.case import write_cases
from ringbreaker.workspace import open_workspace
from tests.case.hostile import IMG, SCRIPT, SVG_BREAK, hostile_workspace, nearly_empty_workspace

SCHEMA = json.loads(resources.files("ringbreaker.case").joinpath("case.schema.json").read_text())


def _write(ws: Path, out: Path) -> None:
    con = open_workspace(ws, read_only=True)
    try:
        write_cases(con, out)
    finally:
        con.close()


def test_markup_in_log_fields_is_escaped(tmp_path: Path) -> None:
    _write(hostile_workspace(tmp_path), tmp_path / "out")
    page = (tmp_path / "out" / "crew-x" / "case.html").read_text()
    for payload in (SCRIPT, IMG, SVG_BREAK, "<img", "<svg onload", 'onerror="'):
        assert payload not in page
    assert page.count("<script") == 1  # ours, at the end
    assert "&lt;script&gt;document.title=" in page
    assert "onerror=&quot;" not in page or "&lt;img src=x onerror=&quot;" in page
    assert "<td>high bypass</td>" in page  # the prompt classifier's verdict next to its event
    case = json.loads((tmp_path / "out" / "crew-x" / "case.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(case)
    assert [(e["id"], e["verdict"], e["labels"]) for e in case["evidence"]["events"]][1] == (
        "ev1",
        "high",
        ["bypass"],
    )
    assert case["crew"]["name"] == f"crew {SCRIPT}"  # data is kept verbatim in JSON, escaped only in HTML
    stix = (tmp_path / "out" / "crew-x" / "case.stix.json").read_text()
    assert validate_string(stix, ValidationOptions(strict=True)).is_valid
    ua = [o for o in json.loads(stix)["objects"] if o["type"] == "indicator" and "User-Agent" in o["pattern"]]
    assert len(ua) == 1
    assert "\\'pwned\\'" in ua[0]["pattern"]  # quotes escaped inside the STIX pattern
    index = (
        (tmp_path / "out" / "index.html").read_text() if (tmp_path / "out" / "index.html").exists() else ""
    )
    assert SCRIPT not in index


def test_nearly_empty_crew_still_makes_a_case_that_says_what_is_missing(tmp_path: Path) -> None:
    _write(nearly_empty_workspace(tmp_path), tmp_path / "out")
    d = tmp_path / "out" / "crew-e"
    case = json.loads((d / "case.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(case)
    assert case["keys"] == []
    assert case["timeline"] == []
    assert case["evidence"]["events_total"] == 0
    assert case["cost"]["total_usd_estimated"] == 0
    gaps = " ".join(case["gaps"])
    for gap in ("No stolen keys", "No timeline", "No detection alerts"):
        assert gap in gaps
    page = (d / "case.html").read_text()
    assert "No timeline was recorded for this crew." in page
    assert "No infrastructure recorded for this crew." in page
    assert "solo99" in page
    assert validate_string((d / "case.stix.json").read_text(), ValidationOptions(strict=True)).is_valid


def test_workspace_without_crews_writes_an_index_that_says_so(tmp_path: Path) -> None:
    ws = tmp_path / "bare.duckdb"
    open_workspace(ws).close()
    _write(ws, tmp_path / "out")
    assert "No crews in the workspace" in (tmp_path / "out" / "index.html").read_text()


def test_long_timeline_draws_first_and_last_step_of_each_kind() -> None:
    from ringbreaker.case.build import STAGES
    from ringbreaker.case.svg import timeline_chart

    fps = ["a" * 64, "b" * 64]
    rows = [
        {
            "time": f"2025-03-0{1 + i // 1440}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z",
            "stage": "abuse" if i % 10 else "key-check",
            "key_fingerprint": fps[i % 2],
            "description": f"step {i}",
            "evidence_ids": [],
        }
        for i in range(3000)
    ]
    svg = timeline_chart(rows, [], STAGES)
    assert svg.count('<g class="event ') == 6  # (a, key-check), (a, abuse), (b, abuse) x (first, last)
    assert "2,994 repeated steps not drawn" in svg
    assert "step 0<" in svg  # the first step is kept
    assert "step 2999<" in svg  # and the last


def test_all_crews_writes_an_index_even_for_one(tmp_path: Path) -> None:
    _write(nearly_empty_workspace(tmp_path), tmp_path / "out")
    assert 'href="crew-e/case.html"' in (tmp_path / "out" / "index.html").read_text()
