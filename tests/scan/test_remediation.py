"""Every built-in rule has its owner's next steps and a liveness check (or an explicit
``verify: none`` with the reason), as schema-valid data; every output format carries them."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from importlib import resources
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from ringbreaker.rules.check import example_texts
from ringbreaker.rules.loader import SecretRule, builtin_dir
from ringbreaker.rules.providers import GENERIC, Check, NoCheck, check, load_providers, remediation
from ringbreaker.scan import report
from tests.scan.test_report import findings_for, render, sarif_schema

# A check must never make the provider generate (or bill) anything.
GENERATIVE = ("completion", "messages", "generate", "embedding", "chat", "predictions", "tokenizer", "invoke")


def provider_schema() -> dict:
    path = resources.files("ringbreaker.rules").joinpath("schema/provider.schema.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_provider_files_are_schema_valid_and_one_per_rule_provider(rules: list[SecretRule]) -> None:
    files = sorted(builtin_dir("providers").glob("*.yaml"))
    validator = jsonschema.Draft202012Validator(provider_schema())
    for f in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(f.read_text(encoding="utf-8")))]
        assert not errors, f"{f.name}: {errors}"
    assert {f.stem for f in files} == {r.provider for r in rules}
    assert len(files) == len(list(builtin_dir("secrets").glob("*.yaml")))
    for p in load_providers().values():  # overrides name real rules of that provider
        assert set(p.overrides) <= {r.id for r in rules if r.provider == p.id}, p.id


def test_schema_refuses_a_check_without_reason_or_url() -> None:
    validator = jsonschema.Draft202012Validator(provider_schema())
    base = {
        "provider": "x",
        "name": "Example",
        "remediation": {
            "console": "https://x",
            "revoke": "delete it there",
            "rotate": "make a new one",
            "logs": "usage page",
        },
    }
    assert list(validator.iter_errors({**base, "verify": {}}))
    assert list(
        validator.iter_errors({**base, "verify": {"method": "GET", "url": "http://x/v1", "auth": "bearer"}})
    )
    assert not list(validator.iter_errors({**base, "verify": {"none": "no read-only endpoint exists"}}))


def test_every_rule_has_remediation_and_a_check_or_a_reason(rules: list[SecretRule]) -> None:
    for r in rules:
        fix = remediation(r.provider, r.id)
        assert fix is not GENERIC, r.id
        assert fix.console.startswith("https://"), r.id
        assert all(len(x) >= 10 for x in (fix.revoke, fix.rotate, fix.logs)), r.id
        spec = check(r.provider, r.id)
        if isinstance(spec, NoCheck):
            assert len(spec.reason) >= 20, r.id
            continue
        assert isinstance(spec, Check)
        u = urlsplit(spec.url)
        assert u.scheme == "https", r.id
        assert not any(w in spec.url.lower() for w in GENERATIVE), f"{r.id}: {spec.url} looks generative"
        if spec.method == "POST":  # only whoami-style POSTs: a GraphQL viewer query, NGC's caller info
            assert spec.url in (
                "https://api.wandb.ai/graphql",
                "https://api.ngc.nvidia.com/v3/keys/get-caller-info",
            )
    checked = [r for r in rules if isinstance(check(r.provider, r.id), Check)]
    assert len(checked) >= 40  # most providers have a read-only endpoint


def test_a_rule_without_a_provider_file_gets_the_generic_steps() -> None:
    assert remediation("no-such-provider", "secret.x.y") is GENERIC
    assert isinstance(check("no-such-provider", "secret.x.y"), NoCheck)


def test_json_table_and_sarif_carry_remediation(rules: list[SecretRule]) -> None:

    texts = [(f"src/{r.provider}.py", example_texts(r, "positive")[0]) for r in rules]
    findings = findings_for(rules, texts)  # files in the working tree: SARIF fixes apply
    rows = [json.loads(x) for x in render("jsonl", findings, rules).splitlines()]
    for row in rows:
        assert set(row["remediation"]) == {"console", "revoke", "rotate", "logs"}
        assert row["remediation"] == remediation(row["provider"], row["rule"]).to_dict()
        assert row["verified"] is None
        assert row["verified_at"] is None
    assert all("remediation" in f for f in json.loads(render("json", findings, rules))["findings"])

    table = render("table", findings[:3], rules)
    assert "revoke at" in table
    assert remediation(findings[0].provider, findings[0].rule).console in table.replace("\n", "")
    assert "verified" not in table  # the column appears only after --verify

    doc = json.loads(render("sarif", findings, rules))
    jsonschema.validate(doc, sarif_schema())
    for rule in doc["runs"][0]["tool"]["driver"]["rules"]:
        assert "**Revoke**" in rule["help"]["markdown"], rule["id"]
        assert rule["help"]["text"].startswith("Revoke: ")
    results = doc["runs"][0]["results"]
    with_fix = [r for r in results if "fixes" in r]
    assert len(with_fix) == len(results)
    for res, f in zip(results, findings, strict=True):
        (change,) = res["fixes"][0]["artifactChanges"]
        region = change["replacements"][0]["deletedRegion"]
        assert region["endColumn"] - region["startColumn"] == f.length
        assert change["artifactLocation"] == res["locations"][0]["physicalLocation"]["artifactLocation"]


def test_no_sarif_fix_for_history_findings(rules: list[SecretRule]) -> None:

    texts = [(f"src/{r.provider}.py", example_texts(r, "positive")[0]) for r in rules[:5]]
    doc = json.loads(render("sarif", findings_for(rules, texts, commit=True), rules))
    assert not any("fixes" in r for r in doc["runs"][0]["results"])


@pytest.mark.parametrize("verified", ["live", "invalid", "unknown", "error"])
def test_verified_findings_validate_as_sarif_and_show_in_the_table(
    rules: list[SecretRule], verified: str
) -> None:

    texts = [(f"src/{r.provider}.py", example_texts(r, "positive")[0]) for r in rules[:4]]
    findings = [
        replace(f, verified=verified, verified_at="2025-01-01T00:00:00+00:00")
        for f in findings_for(rules, texts)
    ]
    doc = json.loads(render("sarif", findings, rules))
    jsonschema.validate(doc, sarif_schema())
    assert {r["properties"]["verified"] for r in doc["runs"][0]["results"]} == {verified}
    out = io.StringIO()
    report.write_table(findings, out)
    assert "verified" in out.getvalue()
    assert verified in out.getvalue()
