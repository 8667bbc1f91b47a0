"""Output formats: SARIF validates against the OASIS schema; no format leaks a secret by default."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringbreaker.model import Finding
from ringbreaker.rules.check import example_texts
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import report
from ringbreaker.scan.matcher import find, make_engine
from ringbreaker.scan.scanner import Hit, Origin, to_findings
from ringbreaker.scan.sources import Stats

JSONL_FIELDS = {
    "id",
    "rule",
    "provider",
    "fingerprint",
    "preview",
    "length",
    "path",
    "line",
    "column",
    "confidence",
    "time",
    "commit",
    "author",
    "author_date",
}


def sarif_schema() -> dict:
    path = os.environ.get("RINGBREAKER_SARIF_SCHEMA", ".cache/sarif/sarif-2.1.0-rtm.5.json")
    assert Path(path).is_file(), f"SARIF schema missing at {path}: run `make test`, which fetches it"
    return json.loads(Path(path).read_text())


def findings_for(
    rules: list[SecretRule], texts: list[tuple[str, str]], commit: bool = False
) -> list[Finding]:
    engine = make_engine(rules, "re")
    hits = []
    for path, text in texts:
        origin = (
            Origin(
                "2025-01-01T00:00:00+00:00",
                "a" * 40,
                "Ann",
                "ann@example.org",
                "2025-01-01T00:00:00+00:00",
                "/r",
            )
            if commit
            else Origin()
        )
        for m in find(rules, engine, text.encode()):
            hits.append(
                Hit(
                    rules[m.rule].id,
                    m.value.decode(),
                    path,
                    m.line,
                    m.column,
                    None,
                    m.paired,
                    m.allowed,
                    origin,
                )
            )
    return to_findings(rules, hits, Stats())


def render(fmt: str, findings: list[Finding], rules: list[SecretRule], show: bool = False) -> str:
    out = io.StringIO()
    if fmt == "jsonl":
        report.write_jsonl(findings, out, show)
    elif fmt == "json":
        report.write_json(findings, {"findings": len(findings)}, out, show)
    elif fmt == "sarif":
        report.write_sarif(findings, rules, out, show)
    else:
        report.write_table(findings, out, show)
    return out.getvalue()


def test_sarif_validates_against_oasis_schema(rules: list[SecretRule]) -> None:
    texts = [(f"src/dir with space/{r.provider}.py", example_texts(r, "positive")[0]) for r in rules]
    findings = findings_for(rules, texts, commit=True)
    assert len(findings) >= len(rules)
    doc = json.loads(render("sarif", findings, rules))
    jsonschema.validate(doc, sarif_schema())
    result = doc["runs"][0]["results"][0]
    assert result["partialFingerprints"]["ringbreaker/finding/v1"] == findings[0].id
    assert "%20" in result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]} == {f.rule for f in findings}


def test_empty_sarif_validates_and_the_schema_has_teeth(rules: list[SecretRule]) -> None:
    doc = json.loads(render("sarif", [], rules))
    jsonschema.validate(doc, sarif_schema())
    doc["runs"][0]["results"] = [{"ruleId": "x", "level": "fatal", "message": {}}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, sarif_schema())


def test_jsonl_contract_fields(rules: list[SecretRule], keygen: Callable) -> None:
    key = keygen("hf_{{letters:34}}")
    (f,) = findings_for(rules, [("a.py", f"x\nHF_TOKEN={key}\n")], commit=True)
    row = json.loads(render("jsonl", [f], rules))
    assert set(row) >= JSONL_FIELDS
    assert row["line"] == 2
    assert row["column"] == 10
    assert row["commit"] == "a" * 40
    assert row["preview"].startswith("hf_")
    assert row["preview"].endswith("(37)")
    assert "secret" not in row
    assert json.loads(render("jsonl", [f], rules, show=True))["secret"] == key


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    pick=st.integers(0, 10_000),
    salt=st.integers(0, 1000),
    fmt=st.sampled_from(["table", "json", "jsonl", "sarif"]),
)
def test_no_format_reveals_a_secret_unless_asked(
    rules: list[SecretRule], pick: int, salt: int, fmt: str
) -> None:
    rule = rules[pick % len(rules)]
    text = example_texts(rule, "positive", salt)[0]
    findings = findings_for(rules, [("f.txt", text)])
    assert findings
    hidden = render(fmt, findings, rules)
    for f in findings:
        assert f.secret
        assert f.secret not in hidden
        # nor a large piece of it: at most the preview prefix is shown
        assert f.secret[len(f.preview.split("…")[0]) :][:16] not in hidden
    if fmt != "table":  # the table may fold long values across lines
        shown = render(fmt, findings, rules, show=True)
        assert all(f.secret in shown for f in findings)


@pytest.mark.parametrize("value", ["AKIA2345ABCD6789WXYZ", "x" * 200, "ab"])
def test_preview_is_short(value: str) -> None:
    from ringbreaker.scan.redact import preview

    p = preview(value)
    assert p.endswith(f"({len(value)})")
    assert len(p.split("…")[0]) <= max(4, len(value) // 8, 12)
