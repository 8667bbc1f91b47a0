"""No secret leaves through a sink: every string of an alert document is passed through the secret
rules (``ringbreaker.scan``'s public ``find``) and each credential found becomes a preview.

Detect's alerts name keys by fingerprint and never hold one, so this finds nothing on a normal run;
it is the guard for what a rule's ``details`` or a summary might one day copy out of a record (a
webhook body ends up in chat history, where a key is as good as posted publicly).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringbreaker.rules import SecretRule
    from ringbreaker.scan import Engine

MIN_SECRET = 16  # shorter strings are ids, times and names: no secret rule matches them


def preview(secret: str) -> str:
    """A prefix and the length (``AKIA…(20)``): tells keys apart, far too little to use one."""
    return f"{secret[: 4 if len(secret) >= 16 else 1]}…({len(secret)})"


@lru_cache(maxsize=1)
def _engine() -> tuple[list[SecretRule], Engine]:
    from ringbreaker.rules import load_secret_rules
    from ringbreaker.scan import make_engine

    rules = load_secret_rules()
    return rules, make_engine(rules)


def redact_text(text: str) -> str:
    """``text`` with every credential the secret rules find replaced by its preview."""
    from ringbreaker.scan import find

    rules, engine = _engine()
    data = text.encode("utf-8", "surrogatepass")
    matches = sorted(find(rules, engine, data), key=lambda m: m.start)
    if not matches:
        return text
    out, last = bytearray(), 0
    for m in matches:
        if m.start < last:
            continue
        out += data[last : m.start] + preview(m.value.decode("utf-8", "replace")).encode()
        last = m.end
    return bytes(out + data[last:]).decode("utf-8", "replace")


def redact_doc(node: Any) -> Any:
    """A JSON-like value with every string (keys included) redacted."""
    if isinstance(node, str):
        return redact_text(node) if len(node) >= MIN_SECRET else node
    if isinstance(node, dict):
        return {redact_doc(k): redact_doc(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [redact_doc(v) for v in node]
    return node
