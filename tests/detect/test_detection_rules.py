"""Every detection rule's embedded tests on a real DuckDB workspace: the test twin of `rules check`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ringbreaker.detect.testing import run_case, to_spark, transpile_problem
from ringbreaker.errors import RuleError
from ringbreaker.rules.detections import load_detection_rules

RULES = load_detection_rules(check_builtin=True)  # the shipped rules held to the schema
DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def _cases() -> list[object]:
    out = []
    for rule in RULES:
        for i, case in enumerate(rule.tests):
            marks = [pytest.mark.xfail(strict=True, reason=case["todo"])] if "todo" in case else []
            out.append(pytest.param(rule, i, id=f"{rule.id}-{case['name']}", marks=marks))
    return out


@pytest.mark.parametrize(("rule", "index"), _cases())
def test_rule_case(rule: object, index: int) -> None:
    # run_case reports ok=True for a todo case that still fails; xfail(strict) needs the raw outcome.
    result = run_case(rule, index)  # type: ignore[arg-type]
    passes = result.ok != result.todo
    assert passes, result.detail


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_transpiles_to_spark(rule: object) -> None:
    assert transpile_problem(rule) == ""  # type: ignore[arg-type]
    spark = to_spark(rule)  # type: ignore[arg-type]
    assert "FROM" in spark.upper()
    assert "->>" not in spark  # DuckDB JSON arrows become get_json_object


def test_pack_covers_the_issue() -> None:
    ids = {r.id for r in RULES}
    assert len(ids) >= 20
    for needed in (
        "det.leaked-key.use",
        "det.aws.bedrock.key-checker",
        "det.azure.openai.key-probe",
        "det.aws.bedrock.list-then-invoke",
        "det.aws.bedrock.model-access-enablement",
        "det.aws.bedrock.logging-read-then-invoke",
        "det.aws.bedrock.logging-deleted",
        "det.aws.bedrock.guardrail-tampering",
        "det.azure.openai.content-filter-weakened",
        "det.azure.openai.listkeys-non-portal",
        "det.azure.openai.dalle-deployment",
        "det.aws.bedrock.bearer-token-misuse",
        "det.key.first-seen-network",
        "det.key.first-seen-user-agent",
        "det.aws.bedrock.first-seen-region",
        "det.key.off-hours",
        "det.key.volume-surge",
        "det.key.pricier-model",
        "det.proxy.reseller-ip",
        "det.gateway.many-end-users",
        "det.prompt.guardrail-bypass",
        "det.prompt.sexual-real-person",
        "det.prompt.minor-sexual",
    ):
        assert needed in ids, needed
    leaked = next(r for r in RULES if r.id == "det.leaked-key.use")
    assert leaked.severity == "critical"
    assert "minutes_from_leak" in leaked.details
    assert any("todo" in c for r in RULES for c in r.tests), "known misses are recorded"
    for r in RULES:
        if r.id.startswith("det.prompt."):
            assert "verdicts" in r.sources
            assert "verdicts" in r.query


def test_every_shipped_rule_says_why_its_severity() -> None:
    # Optional in the schema (imported Sigma rules and users' rules may leave it out); the shipped
    # rules document the rationale of their severity and of what grades a hit lower.
    missing = [r.id for r in RULES if len(r.severity_rationale) < 40]
    assert not missing, f"add a severity_rationale: {missing}"


def test_every_rule_is_documented() -> None:
    text = DOCS.read_text()
    missing = [r.id for r in RULES if f"`{r.id}`" not in text]
    assert not missing, f"add to docs/rules.md: {missing}"


def test_loader_reports_every_problem(tmp_path: Path) -> None:
    good = (Path(RULES[0].source)).read_text()
    (tmp_path / "a.yaml").write_text(good)  # duplicate id of a built-in rule
    (tmp_path / "b.yaml").write_text("id: det.bad\ntitle: x\n")  # schema violations
    quiet_only = re.sub(r"(?m)^id: .*$", "id: det.only-quiet", good)
    quiet_only = (
        quiet_only.split("tests:")[0] + "tests:\n  - {name: a, expect: []}\n  - {name: b, expect: []}\n"
    )
    (tmp_path / "c.yaml").write_text(quiet_only)
    with pytest.raises(RuleError) as err:
        load_detection_rules([tmp_path])
    problems = err.value.problems
    assert any("duplicate id" in p for p in problems)
    assert any("det.bad" in p and "required" in p for p in problems)
    assert any("one case that alerts" in p for p in problems)
