"""Find credentials in a buffer: candidates from an engine, then one exact confirmation step.

Two engines produce *anchor hits* (rule, end offset of a match of the rule's anchor):

* :class:`HyperscanEngine` compiles every rule's anchor into one Hyperscan database and scans the
  buffer once; patterns Hyperscan cannot compile exactly use ``HS_FLAG_PREFILTER`` (a superset).
* :class:`ReEngine` uses each rule's keywords as a prefilter and runs its anchor with ``re``.

Both feed :func:`confirm`, which runs the rule's exact ``re`` pattern over the whole lines around
each hit (plus ``context.lines`` either side for prefix-less keys), then the entropy, placeholder,
context, shape (``scan.shape``: identifier-shaped values) and companion checks. Patterns never
span a line break, so a match found on a line is the same whether the search started at that line
or at the top of the buffer: the two engines yield
identical findings by construction, and a test checks it on every example and on a corpus.
Python only touches lines that hold a candidate.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ringbreaker.errors import UsageError
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan.filters import placeholder_reason, shannon_entropy
from ringbreaker.scan.shape import shape_reason

ALLOW_MARKER = b"ringbreaker:allow"

try:  # pragma: no cover - exercised on platforms with a wheel
    import hyperscan

    HAVE_HYPERSCAN = True
except ImportError:  # pragma: no cover
    hyperscan = None  # type: ignore[assignment]
    HAVE_HYPERSCAN = False


@dataclass(frozen=True, slots=True)
class Match:
    """A confirmed credential inside one buffer (offsets in bytes, line and column 1-based)."""

    rule: int
    value: bytes
    start: int
    end: int
    line: int
    column: int
    paired: bool
    allowed: bool
    resource: str | None = None  # e.g. the Azure resource named near the key (rule ``resource``)
    companion: bytes | None = None  # the paired part found near it (rule ``companion``), for --verify


class Engine(Protocol):
    name: str

    def hits(self, data: bytes) -> list[tuple[int, int]]:
        """(rule index, end offset of an anchor match) for every anchor match: a superset is fine."""
        ...


class ReEngine:
    """Pure-Python engine: keyword prefilter, then the anchor regex. Slower, same results."""

    name = "re"

    def __init__(self, rules: Sequence[SecretRule]) -> None:
        self.rules = rules
        self._keywords = [tuple(k.lower().encode() for k in r.keywords) for r in rules]

    def hits(self, data: bytes) -> list[tuple[int, int]]:
        lowered = data.lower()
        out: list[tuple[int, int]] = []
        for i, rule in enumerate(self.rules):
            if not any(k in lowered for k in self._keywords[i]):
                continue
            out.extend((i, m.end()) for m in rule.anchor_regex.finditer(data))
        return out


class HyperscanEngine:
    """All anchors in one Hyperscan block-mode database, compiled once per process."""

    name = "hyperscan"

    def __init__(self, rules: Sequence[SecretRule]) -> None:
        if not HAVE_HYPERSCAN:
            raise UsageError("--engine hyperscan: the hyperscan package is not installed; use auto or re")
        self.rules = rules
        self.prefiltered: list[str] = []
        flags: list[int] = []
        for r in rules:
            try:  # exact when Hyperscan supports the construct, else a superset (prefilter mode)
                hyperscan.Database().compile(expressions=[r.anchor.encode()], flags=[0])
                flags.append(0)
            except hyperscan.error:
                flags.append(hyperscan.HS_FLAG_PREFILTER)
                self.prefiltered.append(r.id)
        self.db = hyperscan.Database()
        self.db.compile(
            expressions=[r.anchor.encode() for r in rules],
            ids=list(range(len(rules))),
            elements=len(rules),
            flags=flags,
        )
        self.scratch = hyperscan.Scratch(self.db)

    def hits(self, data: bytes) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []

        def on_match(rule: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            out.append((rule, end))

        self.db.scan(data, match_event_handler=on_match, scratch=self.scratch)
        return out


def make_engine(rules: Sequence[SecretRule], name: str = "auto") -> Engine:
    """``auto`` picks Hyperscan when its wheel is installed, else ``re``."""
    if name == "re" or (name == "auto" and not HAVE_HYPERSCAN):
        return ReEngine(rules)
    return HyperscanEngine(rules)


def _line_bounds(data: bytes, pos: int) -> tuple[int, int]:
    """[start, end) of the line holding ``pos`` (end excludes the newline)."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return start, len(data) if end < 0 else end


def _expand(data: bytes, start: int, end: int, lines: int) -> tuple[int, int]:
    for _ in range(lines):
        if start > 0:
            start = data.rfind(b"\n", 0, start - 1) + 1
        if end < len(data):
            nxt = data.find(b"\n", end + 1)
            end = len(data) if nxt < 0 else nxt
    return start, end


def _near(data: bytes, regex: re.Pattern[bytes], start: int, end: int, lines: int) -> bool:
    ws, we = _expand(data, *_line_bounds(data, start), lines)
    return regex.search(data, ws, we) is not None


def _companion(data: bytes, regex: re.Pattern[bytes], start: int, lines: int) -> bytes | None:
    """The companion match nearest the key (what ``scan --verify`` signs with), or None: None
    exactly when ``_near`` would say no companion is there (same window, same regex)."""
    ws, we = _expand(data, *_line_bounds(data, start), lines)
    best: tuple[int, bytes] | None = None
    for m in regex.finditer(data, ws, we):
        d = abs(m.start() - start)
        if best is None or d < best[0]:
            best = (d, m.group(1) if regex.groups else m.group(0))
    return best[1] if best else None


def _resource(data: bytes, regex: re.Pattern[bytes], start: int, lines: int) -> str | None:
    """The nearest ``resource`` capture around a key (closest to it wins), lower-cased."""
    ws, we = _expand(data, *_line_bounds(data, start), lines)
    best: tuple[int, str] | None = None
    for m in regex.finditer(data, ws, we):
        d = abs(m.start(1) - start)
        if best is None or d < best[0]:
            best = (d, m.group(1).decode("utf-8", "replace").lower())
    return best[1] if best else None


Rejected = Callable[[int, int, int, str], None]  # (rule index, start, end, reason) of a dropped candidate


def confirm(
    rules: Sequence[SecretRule],
    data: bytes,
    hits: list[tuple[int, int]],
    on_reject: Rejected | None = None,
) -> list[Match]:
    """Turn anchor hits into confirmed matches (see module docstring); sorted by offset.
    ``on_reject`` hears every candidate the filters drop near its context, with the reason."""
    per_rule: dict[int, set[int]] = defaultdict(set)
    for ridx, end in hits:
        per_rule[ridx].add(data.rfind(b"\n", 0, max(end - 1, 0)) + 1 if end else 0)
    found: dict[tuple[int, int, int], Match] = {}
    for idx, line_starts in per_rule.items():
        rule = rules[idx]
        windows = sorted(_expand(data, *_line_bounds(data, s), rule.window_lines) for s in line_starts)
        merged: list[list[int]] = []
        for ws, we in windows:
            if merged and ws <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], we)
            else:
                merged.append([ws, we])
        for ws, we in merged:
            for m in rule.regex.finditer(data, ws, we):
                start, end = m.span(1)
                key = (idx, start, end)
                if key in found or start == end:
                    continue
                value = m.group(1)
                entropy = shannon_entropy(value)
                low = entropy < rule.entropy
                if on_reject is None:  # the common case: no reason text, no context search
                    if low or placeholder_reason(value):
                        continue
                    reason = None
                else:
                    reason = (
                        f"entropy {abs(entropy):.2f} < {rule.entropy}" if low else placeholder_reason(value)
                    )
                if rule.context_regex is not None and not _near(
                    data, rule.context_regex, start, end, rule.context_lines
                ):
                    continue
                if reason is None and rule.shape.active:
                    reason = shape_reason(rule.shape, data, start, end)
                if reason is not None:
                    if on_reject is not None:
                        on_reject(idx, start, end, reason)
                    continue
                companion = (
                    None
                    if rule.companion_regex is None
                    else _companion(data, rule.companion_regex, start, rule.companion_lines)
                )
                ls, le = _line_bounds(data, start)
                found[key] = Match(
                    rule=idx,
                    value=value,
                    start=start,
                    end=end,
                    line=0,
                    column=len(data[ls:start].decode("utf-8", "replace")) + 1,
                    paired=companion is not None,
                    allowed=ALLOW_MARKER in data[ls:le],
                    resource=None
                    if rule.resource_regex is None
                    else _resource(data, rule.resource_regex, start, rule.resource_lines),
                    companion=companion,
                )
    ordered = sorted(found.values(), key=lambda c: (c.start, c.rule))
    # Line numbers: one incremental count over the buffer, not one count per match.
    out: list[Match] = []
    line, pos = 1, 0
    for c in ordered:
        line += data.count(b"\n", pos, c.start)
        pos = c.start
        out.append(replace(c, line=line))
    return out


def find(rules: Sequence[SecretRule], engine: Engine, data: bytes) -> list[Match]:
    """All confirmed credentials in ``data``."""
    hits = engine.hits(data)
    return confirm(rules, data, hits) if hits else []


def explain(rules: Sequence[SecretRule], engine: Engine, data: bytes) -> list[tuple[int, int, int, str]]:
    """(rule index, start, end, reason) of every candidate near its context that the filters
    dropped: why a value was not reported (``rules check -v``, debugging a rule)."""
    out: list[tuple[int, int, int, str]] = []
    hits = engine.hits(data)
    if hits:
        confirm(rules, data, hits, lambda *r: out.append(r))
    return out
