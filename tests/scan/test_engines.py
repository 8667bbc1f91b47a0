"""Hyperscan and re must agree: on every example (see tests/rules) and on a corpus of real code."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringbreaker.rules.check import example_texts
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan.matcher import HAVE_HYPERSCAN, find, make_engine

pytestmark = pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan wheel not available on this platform")


@pytest.fixture(scope="module")
def engines(rules: list[SecretRule]) -> tuple[object, object]:
    return make_engine(rules, "hyperscan"), make_engine(rules, "re")


def _key(m: object) -> tuple[object, ...]:
    return (m.rule, m.start, m.end, m.line, m.column, m.paired, m.allowed, m.resource)


def _corpus(rules: list[SecretRule], n_files: int = 150) -> bytes:
    """Real code (this Python's standard library) with every rule's positive examples spliced in."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if "test" not in p.parts)[:n_files]
    rng = random.Random(1)
    chunks = [p.read_bytes() for p in files]
    for salt in range(3):
        for r in rules:
            for text in example_texts(r, "positive", salt) + example_texts(r, "negative", salt):
                chunks.insert(rng.randrange(len(chunks) + 1), text.encode())
    return b"\n".join(chunks)


def test_engines_agree_on_corpus(rules: list[SecretRule]) -> None:
    data = _corpus(rules)
    hs = [_key(m) for m in find(rules, make_engine(rules, "hyperscan"), data)]
    py = [_key(m) for m in find(rules, make_engine(rules, "re"), data)]
    assert hs == py
    # and the corpus really exercises them: every rule finds its planted positives
    assert {rules[k[0]].id for k in hs} == {r.id for r in rules}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_scanner_never_raises_and_engines_agree_on_arbitrary_bytes(
    rules: list[SecretRule], engines: tuple[object, object], blob: bytes
) -> None:
    hs = find(rules, engines[0], blob)
    py = find(rules, engines[1], blob)
    assert [_key(m) for m in hs] == [_key(m) for m in py]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.binary(max_size=300), suffix=st.binary(max_size=300), pick=st.integers(0, 10_000))
def test_engines_agree_on_keys_in_noise(
    rules: list[SecretRule], engines: tuple[object, object], prefix: bytes, suffix: bytes, pick: int
) -> None:
    rule = rules[pick % len(rules)]
    text = example_texts(rule, "positive", pick)[0].encode()
    blob = prefix + text + suffix
    hs = find(rules, engines[0], blob)
    py = find(rules, engines[1], blob)
    assert [_key(m) for m in hs] == [_key(m) for m in py]


@pytest.mark.parametrize("engine", ["hyperscan", "re"])
def test_azure_key_records_the_resource_named_next_to_it(rules: list[SecretRule], engine: str) -> None:
    """Azure logs name the resource, not the key: the finding must carry the endpoint's resource."""
    key = random.Random(7).randbytes(16).hex()
    text = (
        'client = AzureOpenAI(\n    azure_endpoint="https://Contoso-EUS.openai.azure.com/",\n'
        f'    api_key="{key}",\n)\n# other: https://fabrikam.openai.azure.com/ far below\n\n\n\n\n\n\n\n'
    ).encode()
    azure = [r for r in rules if r.id == "secret.azure.openai-key"]
    found = find(azure, make_engine(azure, engine), text)
    assert [(m.value.decode(), m.resource) for m in found] == [(key, "contoso-eus")]
    no_endpoint = f'AZURE_OPENAI_API_KEY="{key}"\n'.encode()
    assert [m.resource for m in find(azure, make_engine(azure, engine), no_endpoint)] == [None]
