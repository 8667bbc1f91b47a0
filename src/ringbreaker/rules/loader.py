"""Load and validate rule files.

A secret rule file is YAML with a top-level ``rules:`` list (one file per provider, one entry per
credential type). Every rule is validated against ``schema/secret-rule.schema.json`` and its
regular expressions are compiled; all problems across all files are reported together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ringbreaker.errors import RuleError

BUILTIN = "builtin"


@dataclass(frozen=True)
class RuleShape:
    """What every key of a rule's format looks like (``shape:`` in the YAML), for the identifier
    checks in ``ringbreaker.scan.shape``; ``active`` is off for rules that need none (a prefix of
    their own): on by default for every context-gated rule, so rules added later get it too."""

    active: bool = False
    mixes: tuple[str, ...] = ()  # lower, upper, digit, letter: classes every key contains
    hex: bool = False  # keys are hex digits (a digest named on the line is still rejected)
    uuid: bool = False  # keys contain a UUID
    identifiers: bool = True  # reject CamelCase / snake_case words


@dataclass(frozen=True)
class SecretRule:
    """A compiled secret rule. Patterns are compiled for ``bytes``: scanning never decodes."""

    id: str
    title: str
    provider: str
    pattern: str
    keywords: tuple[str, ...]
    entropy: float
    confidence: str
    references: tuple[str, ...]
    examples: dict[str, list[str]]
    source: str
    description: str = ""
    context_pattern: str | None = None
    context_lines: int = 0
    companion_pattern: str | None = None
    companion_lines: int = 0
    resource_pattern: str | None = None
    resource_lines: int = 0
    shape: RuleShape = RuleShape()
    regex: re.Pattern[bytes] = field(init=False, repr=False, compare=False)
    context_regex: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)
    companion_regex: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)
    resource_regex: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)
    # Other scanners that know this format: tool -> its rule ids ({} = only ringbreaker). Data for
    # `rules list` and the coverage table; it never changes what is matched.
    anchors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern.encode()))
        object.__setattr__(
            self, "context_regex", re.compile(self.context_pattern.encode()) if self.context_pattern else None
        )
        object.__setattr__(
            self,
            "companion_regex",
            re.compile(self.companion_pattern.encode()) if self.companion_pattern else None,
        )
        object.__setattr__(
            self,
            "resource_regex",
            re.compile(self.resource_pattern.encode()) if self.resource_pattern else None,
        )

    @property
    def anchor(self) -> str:
        """The pattern the prefilter looks for: the context if the key has no prefix of its own."""
        return self.context_pattern or self.pattern

    @property
    def anchor_regex(self) -> re.Pattern[bytes]:
        return self.context_regex or self.regex

    @property
    def window_lines(self) -> int:
        """Lines either side of an anchor hit in which the credential itself may sit."""
        return self.context_lines if self.context_pattern else 0

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "title": self.title,
            "confidence": self.confidence,
            "context": bool(self.context_pattern),
            "keywords": list(self.keywords),
            "source": self.source,
            "anchors": {tool: list(ids) for tool, ids in self.anchors.items()},
        }


@cache
def _schema(kind: str) -> dict[str, Any]:
    text = resources.files("ringbreaker.rules").joinpath(f"schema/{kind}-rule.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def builtin_dir(kind: str) -> Path:
    return Path(str(resources.files("ringbreaker.rules").joinpath(f"{BUILTIN}/{kind}")))


def _rule_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        elif p.exists():
            files.append(p)
        else:
            raise RuleError("rule path does not exist", source=str(p))
    return files


_UNREADABLE = object()


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` through libyaml where PyYAML has it: the 160 rule and provider files
    load in a few tens of milliseconds instead of about half a second, which every scan pays."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def _read_yaml(f: Path, problems: list[str]) -> Any:
    """A rule file's YAML document, or ``_UNREADABLE`` (with the reason added to ``problems``)."""
    try:
        return load_yaml(f.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{f}: cannot read YAML: {e}")
        return _UNREADABLE


class SchemaCheck:
    """Every schema violation of a rule, each naming the rule and the path inside it.

    Rules shipped in the package are checked by ``rules check`` and the test suite, not on every
    load: importing jsonschema costs 1.7 s on every command when rfc3987-syntax is installed beside
    it (it builds a grammar at import), more than a whole small scan. Other rule files are always
    checked; jsonschema is imported on the first one."""

    def __init__(self, kind: str, builtin: bool) -> None:  # kind: secret | detection
        self.kind = kind
        self.builtin = builtin  # check the shipped rules too
        self._validator: Any = None
        self._root = builtin_dir(kind + "s").resolve()

    def __call__(self, f: Path, raw: Any, where: str) -> list[str]:
        if not self.builtin and f.resolve().parent == self._root:
            return []
        if self._validator is None:
            import jsonschema

            self._validator = jsonschema.Draft202012Validator(_schema(self.kind))
        errs = sorted(self._validator.iter_errors(raw), key=lambda e: list(e.path))
        return [f"{where}: {'/'.join(map(str, e.path)) or '<rule>'}: {e.message}" for e in errs]


def _secret_rule(raw: dict[str, Any], source: str) -> SecretRule:
    ctx = raw.get("context") or {}
    comp = raw.get("companion") or {}
    res = raw.get("resource") or {}
    shp = raw.get("shape")
    shape = RuleShape(
        active=shp is not None or bool(ctx),
        mixes=tuple((shp or {}).get("mixes", ())),
        hex=bool((shp or {}).get("hex", False)),
        uuid=bool((shp or {}).get("uuid", False)),
        identifiers=bool((shp or {}).get("identifiers", True)),
    )
    return SecretRule(
        id=raw["id"],
        title=raw["title"],
        provider=raw["provider"],
        pattern=raw["pattern"],
        keywords=tuple(raw["keywords"]),
        entropy=float(raw["entropy"]),
        confidence=raw["confidence"],
        references=tuple(raw["references"]),
        examples={k: list(v) for k, v in raw["examples"].items()},
        source=source,
        description=raw.get("description", ""),
        context_pattern=ctx.get("pattern"),
        context_lines=int(ctx.get("lines", 3)) if ctx else 0,
        companion_pattern=comp.get("pattern"),
        companion_lines=int(comp.get("lines", 5)) if comp else 0,
        resource_pattern=res.get("pattern"),
        resource_lines=int(res.get("lines", 5)) if res else 0,
        shape=shape,
        anchors={tool: tuple(ids) for tool, ids in (raw.get("anchors") or {}).items()},
    )


def load_secret_rules(
    extra: Iterable[Path] = (), *, builtin: bool = True, check_builtin: bool = False
) -> list[SecretRule]:
    """Load built-in secret rules plus any extra files or directories; raise one RuleError listing
    every problem (schema violations, bad regexes, duplicate ids, capture-group count).
    ``check_builtin``: hold the shipped rules to the schema too (see SchemaCheck)."""
    paths = ([builtin_dir("secrets")] if builtin else []) + [Path(p) for p in extra]
    check = SchemaCheck("secret", check_builtin)
    problems: list[str] = []
    rules: list[SecretRule] = []
    seen: dict[str, str] = {}
    for f in _rule_files(paths):
        doc = _read_yaml(f, problems)
        if doc is _UNREADABLE:
            continue
        entries = doc.get("rules") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            problems.append(f"{f}: expected a top-level 'rules:' list")
            continue
        for i, raw in enumerate(entries):
            where = f"{f}: rules[{i}]" + (f" ({raw.get('id')})" if isinstance(raw, dict) else "")
            errs = check(f, raw, where)
            if errs:
                problems.extend(errs)
                continue
            try:
                rule = _secret_rule(raw, str(f))
            except re.error as e:
                problems.append(f"{where}: bad regular expression: {e}")
                continue
            if rule.regex.groups != 1:
                problems.append(
                    f"{where}: pattern must have exactly one capture group, has {rule.regex.groups}"
                )
                continue
            if rule.id in seen:
                problems.append(f"{where}: duplicate id, first defined in {seen[rule.id]}")
                continue
            seen[rule.id] = str(f)
            rules.append(rule)
    if problems:
        raise RuleError(f"{len(problems)} problem(s) in secret rules", problems=problems)
    return rules
