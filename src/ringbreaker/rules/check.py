"""Run every rule's own examples: what ``ringbreaker rules check`` and the parametrised test do.

For each secret rule, each positive example (expanded from its template) must produce a finding of
that rule, each negative example must not, and no other rule may claim the same credential.
``todo_positive`` / ``todo_negative`` are known misses and known false positives: they must still
fail, so fixing one is noticed (an expected failure, never a deleted example).

Matching is the scan stage's job and ``rules`` imports no stage, so the caller hands in one finder
per engine (``ringbreaker.pipeline.check_secret_rules`` builds them from the scan matcher).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ringbreaker.rules.examples import expand, seeded
from ringbreaker.rules.loader import SecretRule


@dataclass(frozen=True)
class ExampleResult:
    rule: str
    kind: str  # positive, negative, todo_positive, todo_negative
    index: int
    engine: str
    ok: bool
    detail: str


class Located(Protocol):
    """A confirmed match: the index of its rule in the rule list and its byte span."""

    @property
    def rule(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


Finder = Callable[[bytes], Sequence[Located]]  # every confirmed match of the full rule set in some bytes
# (rule index, start, end, reason) of every candidate the confirmation filters dropped in some bytes
Explainer = Callable[[bytes], Sequence[tuple[int, int, int, str]]]


def example_texts(rule: SecretRule, kind: str, salt: int = 0) -> list[str]:
    """The concrete texts for one kind of example of ``rule``."""
    return [expand(t, seeded(rule.id, i, salt)) for i, t in enumerate(rule.examples.get(kind, []))]


def check_secret_rules(
    rules: Sequence[SecretRule],
    finders: Mapping[str, Finder],
    salt: int = 0,
    explain: Explainer | None = None,
) -> list[ExampleResult]:
    """Run every example of every rule through each engine's finder (engine name -> finder over the
    full rule set ``rules``). With ``explain``, an example the rule does not match says why (the
    filter that dropped its candidate: entropy, placeholder, identifier shape...)."""
    results: list[ExampleResult] = []
    for engine_name, find in finders.items():
        for idx, rule in enumerate(rules):
            for kind in ("positive", "negative", "todo_positive", "todo_negative"):
                for i, text in enumerate(example_texts(rule, kind, salt)):
                    matches = find(text.encode())
                    mine = [m for m in matches if m.rule == idx]
                    others = [
                        rules[m.rule].id
                        for m in matches
                        if m.rule != idx and any(m.start < o.end and o.start < m.end for o in mine)
                    ]
                    # What the example asks for once fixed: todo_positive a match, todo_negative none.
                    should_match = kind in ("positive", "todo_positive")
                    passes = bool(mine) == should_match and not (should_match and others)
                    todo = kind.startswith("todo")
                    ok = passes != todo
                    detail = ""
                    if not ok and todo:
                        detail = "known failure now passes: move it to the regular examples"
                    elif not ok and others:
                        detail = f"also claimed by {', '.join(sorted(set(others)))}"
                    elif not ok:
                        detail = "expected a match, got none" if should_match else "unexpected match"
                    if not mine and explain is not None:
                        reasons = [r for i_, _s, _e, r in explain(text.encode()) if i_ == idx]
                        if reasons:
                            detail = "; ".join(filter(None, [detail, f"rejected: {reasons[0]}"]))
                    results.append(ExampleResult(rule.id, kind, i, engine_name, ok, detail))
    # The re engine skips a rule whose keywords are absent: every anchor match in a positive
    # example must therefore contain one of them (engine-independent, checked once).
    for rule in rules:
        keywords = [k.lower().encode() for k in rule.keywords]
        for i, text in enumerate(example_texts(rule, "positive", salt)):
            bad = [
                m.group(0).decode(errors="replace")
                for m in rule.anchor_regex.finditer(text.encode())
                if not any(k in m.group(0).lower() for k in keywords)
            ]
            detail = f"anchor match without a keyword: {bad[0][:40]!r}" if bad else ""
            results.append(ExampleResult(rule.id, "keywords", i, "any", not bad, detail))
    return results
