"""The identifier-shape rejection of context-gated rules: real random keys pass, code-shaped values
next to the provider's name do not, and the reason is what `rules check -v` shows."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from ringbreaker.pipeline import check_secret_rules
from ringbreaker.rules.check import example_texts
from ringbreaker.rules.loader import SecretRule, load_secret_rules
from ringbreaker.scan import find, make_engine
from ringbreaker.scan.matcher import explain
from ringbreaker.scan.shape import identifier_words

RULES = load_secret_rules()
ENGINE = make_engine(RULES, "re")
SHAPED = [r for r in RULES if r.shape.active]
KEYS_PER_RULE = 2000


def _found(rule: SecretRule, text: str) -> bool:
    idx = RULES.index(rule)
    return any(m.rule == idx for m in find(RULES, ENGINE, text.encode()))


def _reasons(text: str, rule_id: str) -> list[str]:
    idx = next(i for i, r in enumerate(RULES) if r.id == rule_id)
    return [why for i, _s, _e, why in explain(RULES, ENGINE, text.encode()) if i == idx]


def _hex(n: int, seed: int) -> str:
    """A random hex string as even as a real digest (entropy over the rules' 3.8 floor)."""
    from ringbreaker.scan.filters import shannon_entropy

    rng = random.Random(seed)
    while True:
        h = "".join(rng.choice("0123456789abcdef") for _ in range(n))
        if shannon_entropy(h.encode()) >= 3.85:
            return h


HEX32, HEX40 = _hex(32, 1), _hex(40, 2)
_RNG = random.Random(3)
KEY32 = "".join(_RNG.choice(string.ascii_letters + string.digits) for _ in range(31)) + "7"


def test_every_context_gated_rule_gets_the_shape_check() -> None:
    gated = [r.id for r in RULES if r.context_pattern]
    assert len(gated) >= 15
    assert all(r.shape.active for r in RULES if r.context_pattern)
    assert not any(r.shape.active for r in RULES if not r.context_pattern)


@pytest.mark.parametrize("rule", SHAPED, ids=lambda r: r.id)
def test_random_keys_of_the_rule_s_own_format_pass(rule: SecretRule) -> None:
    """Fresh random keys in every positive example form: fewer than 0.5% may be rejected (the
    ~0.4% of 32-char base62 keys without a digit included, so no rule may demand a digit)."""
    n = missed = 0
    texts = rule.examples["positive"]
    for salt in range(KEYS_PER_RULE // len(texts) + 1):
        for text in example_texts(rule, "positive", salt=50_000 + salt):
            n += 1
            missed += not _found(rule, text)
    assert n >= KEYS_PER_RULE
    assert missed / n < 0.005, f"{rule.id}: {missed} of {n} random keys rejected"


def test_random_base62_scores_far_below_the_identifier_limit() -> None:
    rng = random.Random(7)
    alphabet = (string.ascii_letters + string.digits).encode()
    scores = sorted(
        identifier_words(bytes(rng.choice(alphabet) for _ in range(32)))[0] for _ in range(20_000)
    )
    assert scores[len(scores) // 2] < 0.1
    assert scores[int(0.999 * len(scores))] < 0.6  # WORDY_NO_DIGIT: the lower of the two limits


MISTRAL, AZURE = "secret.mistral.api-key", "secret.azure.openai-key"
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"  # a notebook image's first bytes


@pytest.mark.parametrize(
    ("text", "rule_id", "reason"),
    [
        ("var s = new MistralAIChatCompletionServiceV2(id);", MISTRAL, "identifier-shaped"),
        ("using Mistral; var o = new MistralPromptExecutionSettingsV1();", MISTRAL, "identifier"),
        (f"mistral = load('/models/{KEY32}/weights.bin')", MISTRAL, "path"),
        (f"mistral_icon = '{PNG}+{KEY32}/CAYAAAAfFcSJAAAADUlEQVR42mNk=='", MISTRAL, "base64 run"),
        ("MISTRAL_PROMPT=U3VtbWFyaXplIHRoaXMgZG9jdW1lbnQu", MISTRAL, "base64 of plain text"),
        (f"mistral weights md5 {HEX32}", MISTRAL, "hex digest"),
        (f"AzureOpenAI model: sha256 = {HEX32}", AZURE, "digest"),
        (
            f"wandb @ git+https://github.com/wandb/wandb.git@{HEX40}",
            "secret.wandb.api-key",
            "digest or commit",
        ),
        ("AZURE_OPENAI_COUNTER=98765432109876543210987654321098", AZURE, "no letter"),
    ],
)
def test_code_shaped_values_are_rejected_with_a_reason(text: str, rule_id: str, reason: str) -> None:
    rule = next(r for r in RULES if r.id == rule_id)
    assert not _found(rule, text)
    reasons = _reasons(text, rule_id)
    assert any(reason in r for r in reasons), reasons


def test_a_key_next_to_code_is_still_found() -> None:
    """The checks look at the value and its own token, not at the identifiers beside it."""
    rng = random.Random(11)
    key = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(31)) + "7"
    text = f'var s = new MistralAIChatCompletionService(apiKey: "{key}");'
    assert _found(next(r for r in RULES if r.id == "secret.mistral.api-key"), text)


def test_a_rule_added_later_with_context_gets_the_check(tmp_path: Path) -> None:
    f = tmp_path / "acme.yaml"
    f.write_text(
        "rules:\n"
        "  - id: secret.acme.api-key\n"
        "    title: Acme key\n"
        "    provider: acme\n"
        "    pattern: '(?<![A-Za-z0-9])([A-Za-z0-9]{36})(?![A-Za-z0-9])'\n"
        "    keywords: [acme]\n"
        "    entropy: 3.5\n"
        "    confidence: medium\n"
        "    context: {pattern: '(?i)acme'}\n"
        "    references: [https://acme.example/docs]\n"
        "    examples:\n"
        "      positive: ['ACME_KEY={{alnum:36}}', 'acme.Client(key=\"{{alnum:36}}\")']\n"
        "      negative: ['ACME_KEY=<key>', 'acme = AcmeChatCompletionRequestOptionsBase']\n"
    )
    rules = load_secret_rules([f], builtin=False)
    assert rules[0].shape.active
    assert rules[0].shape.mixes == ()
    results = check_secret_rules(rules, engines=("re",))
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    neg = [r for r in results if r.kind == "negative" and r.index == 1]
    assert "identifier-shaped" in neg[0].detail


def test_shape_schema_rejects_an_unknown_class(tmp_path: Path) -> None:
    from ringbreaker.errors import RuleError

    src = (Path(RULES[0].source).parent / "mistral.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(src.replace("mixes: [upper, lower]", "mixes: [upper, vowels]"))
    with pytest.raises(RuleError) as e:
        load_secret_rules([bad], builtin=False)
    assert any("vowels" in p for p in e.value.problems)
