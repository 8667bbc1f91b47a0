"""Every secret rule's own examples, on both engines: the test twin of `ringbreaker rules check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringbreaker.errors import RuleError
from ringbreaker.pipeline import check_secret_rules
from ringbreaker.rules.loader import load_secret_rules
from ringbreaker.scan import HAVE_HYPERSCAN

RULES = load_secret_rules(check_builtin=True)  # the shipped rules held to the schema
RESULTS = check_secret_rules(RULES)


def _param(r: object) -> object:
    marks = (
        [pytest.mark.xfail(strict=True, reason="known miss or false positive (todo)")]
        if r.kind.startswith("todo")
        else []
    )
    return pytest.param(r, id=f"{r.rule}-{r.kind}-{r.index}-{r.engine}", marks=marks)


@pytest.mark.parametrize("result", [_param(r) for r in RESULTS])
def test_rule_example(result: object) -> None:
    # For todo examples `ok` means "still fails as recorded"; xfail(strict) inverts it so a fixed
    # known miss turns the suite red until it is moved to the regular examples.
    if result.kind.startswith("todo"):
        assert not result.ok, result.detail
    else:
        assert result.ok, result.detail


def test_rule_pack_covers_the_field() -> None:
    assert len(RULES) >= 45
    providers = {r.provider for r in RULES}
    for p in (
        "openai",
        "anthropic",
        "aws",
        "azure-openai",
        "google",
        "huggingface",
        "mistral",
        "cohere",
        "deepseek",
        "groq",
        "xai",
        "openrouter",
    ):
        assert p in providers, p
    assert len({r.id for r in RULES}) == len(RULES)
    for r in RULES:
        assert len(r.examples["positive"]) >= 2, r.id
        assert len(r.examples["negative"]) >= 2, r.id


def test_both_engines_ran() -> None:
    engines = {r.engine for r in RESULTS} - {"any"}
    assert "re" in engines
    assert ("hyperscan" in engines) == HAVE_HYPERSCAN


def test_prefixless_keys_need_their_provider_named() -> None:
    for rid in (
        "secret.azure.openai-key",
        "secret.mistral.api-key",
        "secret.cohere.api-key",
        "secret.deepseek.api-key",
        "secret.stability.api-key",
    ):
        rule = next(r for r in RULES if r.id == rid)
        assert rule.context_pattern, rid


def test_bad_rule_file_reports_every_problem_with_its_source(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        "  - id: secret.x.one\n    title: Xyz\n    provider: x\n    pattern: 'xx(['\n    keywords: [xx]\n"
        "    entropy: 1\n    confidence: high\n    references: [https://example.org]\n"
        "    examples: {positive: [a, b], negative: [c, d]}\n"
        "  - id: Not An Id\n    title: Why\n"
    )
    with pytest.raises(RuleError) as e:
        load_secret_rules([bad], builtin=False)
    text = str(e.value)
    assert "bad.yaml" in text
    assert "bad regular expression" in text
    assert "Not An Id" in text or "rules[1]" in text
    assert len(e.value.problems) >= 2


def test_two_capture_groups_rejected(tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text(
        "rules:\n  - id: secret.x.two\n    title: X two\n    provider: x\n    pattern: '(a)(b)'\n"
        "    keywords: [ab]\n    entropy: 0\n    confidence: low\n    references: [https://example.org]\n"
        "    examples: {positive: [ab, ab], negative: [c, d]}\n"
    )
    with pytest.raises(RuleError, match="exactly one capture group"):
        load_secret_rules([f], builtin=False)


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text()
    missing = [r.id for r in RULES if f"`{r.id}`" not in doc]
    assert not missing, f"add to docs/rules.md: {missing}"


def test_shipped_rules_are_held_to_the_schema_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading skips the schema for the shipped rules (rules check and these tests apply it); a
    shipped file that breaks the schema is caught when asked, and another file always is."""
    from ringbreaker.rules import loader

    shipped = tmp_path / "secrets"
    shipped.mkdir()
    src = loader.builtin_dir("secrets")
    for f in src.glob("*.yaml"):
        (shipped / f.name).write_text(f.read_text())
    first = sorted(shipped.glob("*.yaml"))[0]
    first.write_text(first.read_text().replace("confidence:", "confidence_typo:", 1))
    monkeypatch.setattr(loader, "builtin_dir", lambda kind: tmp_path / kind)
    with pytest.raises(RuleError) as e:
        loader.load_secret_rules(check_builtin=True)
    assert any("confidence" in p for p in e.value.problems)
    mine = tmp_path / "mine.yaml"
    mine.write_text(first.read_text())
    with pytest.raises(RuleError) as e:
        loader.load_secret_rules([mine], builtin=False)
    assert any("confidence" in p for p in e.value.problems)


def test_todo_examples_must_keep_failing_as_recorded(tmp_path: Path) -> None:
    """A known false positive (todo_negative) still matches and a known miss (todo_positive) still
    misses: both are ok; once one is fixed it fails with a message to move it."""
    rule = (
        "rules:\n"
        "  - id: secret.acme.token\n"
        "    title: Acme token\n"
        "    provider: acme\n"
        "    pattern: '(?<![A-Za-z0-9_])(acme_[A-Za-z]{30})(?![A-Za-z0-9_])'\n"
        "    keywords: [acme_]\n"
        "    entropy: 3.0\n"
        "    confidence: high\n"
        "    references: [https://acme.example/docs]\n"
        "    examples:\n"
        "      positive: ['T=acme_{{letters:30}}', 'x(\"acme_{{letters:30}}\")']\n"
        "      negative: ['T=acme_', 'T=acme_{{letters:10}}']\n"
        "      todo_positive: ['T=acme_{{letters:30}}9']\n"
        "      todo_negative: ['models/acme_{{letters:30}}']\n"
    )
    f = tmp_path / "acme.yaml"
    f.write_text(rule)
    results = check_secret_rules(load_secret_rules([f], builtin=False), engines=("re",))
    todo = {r.kind: r for r in results if r.kind.startswith("todo")}
    assert todo["todo_positive"].ok, todo
    assert todo["todo_negative"].ok, todo
    f.write_text(
        rule.replace("todo_positive: ['T=acme_{{letters:30}}9']", "todo_positive: ['T=acme_{{letters:30}}']")
    )
    fixed = check_secret_rules(load_secret_rules([f], builtin=False), engines=("re",))
    moved = next(r for r in fixed if r.kind == "todo_positive")
    assert not moved.ok
    assert "move it" in moved.detail


def test_every_shipped_rule_names_its_anchors_after_its_references() -> None:
    """`anchors` is explicit in every shipped rule (`{}` where only ringbreaker knows the format),
    written right after `references`, and loaded as given."""
    import yaml

    from ringbreaker.rules.loader import builtin_dir

    by_id = {r.id: r for r in RULES}
    for f in sorted(builtin_dir("secrets").glob("*.yaml")):
        for raw in yaml.safe_load(f.read_text(encoding="utf-8"))["rules"]:
            keys = list(raw)
            assert "anchors" in keys, f"{f.name}: {raw['id']} has no anchors"
            assert keys.index("anchors") == keys.index("references") + 1, raw["id"]
            assert by_id[raw["id"]].anchors == {t: tuple(ids) for t, ids in raw["anchors"].items()}
    known = [r for r in RULES if r.anchors]
    assert len(known) >= len(RULES) // 2  # most formats are known elsewhere too
    assert all(r.summary()["anchors"] == {t: list(i) for t, i in r.anchors.items()} for r in RULES)


def test_anchors_are_optional_and_only_known_tools(tmp_path: Path) -> None:
    base = (
        "rules:\n  - id: secret.x.one\n    title: X one\n    provider: x\n    pattern: '(zq[0-9]{8})'\n"
        "    keywords: [zq]\n    entropy: 0\n    confidence: low\n    references: [https://example.org]\n"
    )
    tail = "    examples: {positive: [zq12345678, zq87654321], negative: [zq1, zq2]}\n"
    plain = tmp_path / "plain.yaml"
    plain.write_text(base + tail)
    (rule,) = load_secret_rules([plain], builtin=False)
    assert rule.anchors == {}
    assert rule.summary()["anchors"] == {}
    odd = tmp_path / "odd.yaml"
    odd.write_text(base + "    anchors: {semgrep: [x.y]}\n" + tail)
    with pytest.raises(RuleError) as e:
        load_secret_rules([odd], builtin=False)
    assert any("semgrep" in p for p in e.value.problems)


def test_rules_list_shows_which_anchors_cover_each_rule() -> None:
    import json

    from click.testing import CliRunner

    from ringbreaker.cli import cli
    from ringbreaker.cli.rules import anchor_codes

    assert anchor_codes({"github": ["x"], "kingfisher": ["y"], "gitleaks": []}) == "KF GH"
    assert anchor_codes({}) == "-"
    listed = CliRunner().invoke(cli, ["rules", "list", "--kind", "secret", "--format", "json"])
    rows = json.loads(listed.output)
    by_id = {r["id"]: r for r in rows}
    assert by_id["secret.anthropic.api-key"]["anchors"]["noseyparker"] == ["np.anthropic.1"]
    assert by_id["secret.fireworks.api-key"]["anchors"] == {}
    table = CliRunner().invoke(cli, ["rules", "list", "--kind", "secret"], env={"COLUMNS": "300"}).output
    line = next(ln for ln in table.splitlines() if "secret.anthropic.api-key" in ln)
    assert "KF BL TH NP GL GH" in line
    assert "GH GitHub secret scanning" in table


def test_issue_18_misses_are_found(tmp_path: Path) -> None:
    """ElevenLabs keys far from the provider's name, and Pinecone keys in both forms, in a real file."""
    from ringbreaker.rules.examples import expand, seeded
    from ringbreaker.scan import ScanConfig, scan

    rng = seeded("issue-18", 0)
    eleven = expand("sk_{{hex:48}}", rng)
    pcsk = expand("pcsk_{{alnum:6}}_{{alnum:63}}", rng)
    legacy = expand("{{uuid}}", rng)
    far = "\n".join(f"x{i} = {i}" for i in range(10))
    (tmp_path / "settings.py").write_text(
        f'TTS_KEY = "{eleven}"\n{far}\nVECTOR_KEY = "{pcsk}"\n{far}\nPINECONE_API_KEY = "{legacy}"\n'
    )
    found = {f.rule for f in scan([tmp_path], ScanConfig(jobs=1)).findings}
    assert found == {"secret.elevenlabs.api-key", "secret.pinecone.api-key", "secret.pinecone.legacy-api-key"}
    el = next(r for r in RULES if r.id == "secret.elevenlabs.api-key")
    assert el.context_pattern is None
    assert el.confidence == "medium"
