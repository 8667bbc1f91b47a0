"""Key-owner workflows: an inventory of one's own keys (and the ids logs name them by), and a
baseline of accepted findings."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ringbreaker.errors import InputError
from ringbreaker.model import Finding, KeyAlias, fingerprint
from ringbreaker.workspace.aliases import ALIAS_KINDS

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# KIND=ID: lower case and hyphens, which no environment variable name has, so a .env line never reads as one
_ID_TOKEN = re.compile(r"^([a-z][a-z0-9]*(?:-[a-z0-9]+)+)=(.*)$")
_ENV = re.compile(r"^(?:export\s+)?[A-Za-z_][\w.-]*\s*=\s*(.*)$")
_COMMENT = re.compile(r"\s+#.*$")
_OPENAI_KEY_ID = re.compile(r"^key_[A-Za-z0-9]{4,64}$")
_AZURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$")
_AZURE_ID = re.compile(r"(?i)^/subscriptions/[^/]+/.*/accounts/([^/]+)/?$")
_AZURE_URL = re.compile(
    r"(?i)^https://([a-z0-9-]+)\.(?:openai|cognitiveservices|services\.ai)\.azure\.com(?:/.*)?$"
)
_AWS_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::\d{12}:(?:user|role|assumed-role)/[\w+=,.@/-]+$")
_EXPECTED = {
    "openai-key-id": "expected an OpenAI key id, key_ and letters or digits",
    "azure-resource": "expected an Azure resource name, its resource id (/subscriptions/.../accounts/NAME) "
    "or endpoint (https://NAME.openai.azure.com)",
    "aws-principal": "expected an IAM user, role or assumed-role ARN (arn:aws:iam::123456789012:user/NAME)",
}
BASELINE_VERSION = 1


@dataclass(frozen=True)
class Inventory:
    """The owner's keys as read from an inventory file: their fingerprints (findings of them are
    ``owned``) and the ids logs name them by (stored with ``scan --workspace``, see
    ``ringbreaker.workspace.aliases``). No secret is kept: keys are hashed as each line is read."""

    source: str  # the file, as an absolute path: a later scan with it replaces its stored aliases
    fingerprints: frozenset[str]
    aliases: tuple[KeyAlias, ...] = ()


def _azure_resource(value: str) -> str | None:
    """The lower-case account name in an Azure resource name, resource id or endpoint URL."""
    if (m := _AZURE_ID.search(value)) or (m := _AZURE_URL.match(value)):
        value = m.group(1)
    return value.lower() if _AZURE_NAME.match(value) else None


def _alias(kind: str, value: str) -> str | None:
    """The alias as the logs write it, or None when ``value`` is not an id of that kind."""
    if kind == "openai-key-id":
        return value if _OPENAI_KEY_ID.match(value) else None
    if kind == "azure-resource":
        return _azure_resource(value)
    return value if _AWS_PRINCIPAL.match(value) else None


def _parse_line(item: str, source: str, n: int) -> tuple[str, list[tuple[str, str]]]:
    """(fingerprint, [(kind, alias)]) of one inventory line; InputError names the line (never the
    key: a message may end up in a log)."""
    tokens = _COMMENT.sub("", item).split()
    ids: list[tuple[str, str]] = []
    while tokens and (m := _ID_TOKEN.match(tokens[-1])) and m.group(1) in ALIAS_KINDS:
        alias = _alias(m.group(1), m.group(2))
        if alias is None:
            raise InputError(f"{m.group(1)}: {_EXPECTED[m.group(1)]}", source=source, line=n)
        ids.insert(0, (m.group(1), alias))
        tokens.pop()
    if not tokens:
        raise InputError(
            "ids without a key: start the line with the key or its SHA-256", source=source, line=n
        )
    key = " ".join(tokens)
    if not _SHA256.match(key) and (m := _ENV.match(key)):  # a .env line: NAME=value, export NAME=value
        key = m.group(1).strip().strip("'\"")
    if not key or any(c.isspace() for c in key):
        kinds = [m.group(1) for t in tokens[1:] if (m := _ID_TOKEN.match(t))]
        why = f"unknown id kind {kinds[-1]!r}" if kinds else "more than one word where the key should be"
        raise InputError(f"{why}; a line is KEY [KIND=ID ...], KIND one of {', '.join(ALIAS_KINDS)}",
                         source=source, line=n)  # fmt: skip
    return (key.lower() if _SHA256.match(key) else fingerprint(key)), ids


def load_inventory(path: Path) -> Inventory:
    """Read an inventory file: one key per line (a key, its SHA-256 fingerprint, or a .env
    ``NAME=value`` line), optionally followed by ids of that key as ``KIND=ID`` words, e.g.
    ``sk-admin-... openai-key-id=key_abc``; ``#`` starts a comment. Bad lines raise InputError
    naming the file and line; an OpenAI key id given for two different keys is one of them."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read inventory: {e}", source=str(path)) from e
    source, now = str(path.resolve()), datetime.now(UTC)
    fps: set[str] = set()
    aliases: dict[tuple[str, str, str], KeyAlias] = {}
    key_ids: dict[str, tuple[str, int]] = {}  # OpenAI key id -> (fingerprint, line)
    for n, raw in enumerate(lines, 1):
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        fp, ids = _parse_line(item, str(path), n)
        fps.add(fp)
        for kind, alias in ids:
            if kind == "openai-key-id":
                seen = key_ids.setdefault(alias, (fp, n))
                if seen[0] != fp:
                    raise InputError(
                        f"openai-key-id {alias} is also given for another key on line {seen[1]}",
                        source=str(path),
                        line=n,
                    )
            aliases.setdefault((kind, alias, fp), KeyAlias(alias, kind, fp, source, now))
    return Inventory(source, frozenset(fps), tuple(aliases.values()))


def read_inventory(path: Path) -> frozenset[str]:
    """Fingerprints of the owner's keys in an inventory file (see ``load_inventory``)."""
    return load_inventory(path).fingerprints


def read_baseline(path: Path) -> set[str]:
    """Finding ids accepted earlier."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {str(e["id"]) for e in doc["findings"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"not a ringbreaker baseline file: {e}", source=str(path)) from e


def write_baseline(path: Path, findings: Sequence[Finding]) -> None:
    """Accept the given findings: ids, fingerprints and locations, never the secrets."""
    doc = {
        "version": BASELINE_VERSION,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": [
            {"id": f.id, "rule": f.rule, "fingerprint": f.fingerprint, "path": f.path, "line": f.line}
            for f in findings
        ],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
