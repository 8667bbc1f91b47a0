"""What the workbench may show of a record: secrets never, prompt texts only when asked.

Secrets: every raw record and text field shown is passed through the secret rules (ringbreaker.scan's
public ``find``), and each credential found becomes a short preview, as ``scan`` stores it; the key id
a record names (an AWS access key id) is shortened the same way. Prompts: the text of an event's
prompt, and every string of its raw record that carries it, become a verdict-sized preview unless the
server was started with ``--show-prompts`` (an analyst may need to read them; a screen share should
not show them by default).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringbreaker.scan import Engine

PROMPT_PREVIEW = 32  # characters of a prompt shown when prompts are redacted
_MIN_PIECE = 12  # a raw string this long that is part of the prompt is the prompt
# A Hyperscan engine has one scratch space: two threads scanning at once fail (ScratchInUseError).
# Requests run in a thread pool, so scans take turns; each is microseconds on a record.
_SCAN = threading.Lock()


def preview(secret: str) -> str:
    """A prefix and the length (``AKIA…(20)``): tells keys apart, far too little to use one."""
    keep = 4 if len(secret) >= 16 else 1
    return f"{secret[:keep]}…({len(secret)})"


@lru_cache(maxsize=1)
def _engine() -> tuple[Any, Engine]:
    from ringbreaker.rules import load_secret_rules
    from ringbreaker.scan import make_engine

    rules = load_secret_rules()
    return rules, make_engine(rules)


def warm() -> None:
    """Compile the secret rules now (at start), not on the first page that shows a record."""
    _engine()


def secrets(text: str, extra: tuple[str, ...] = ()) -> str:
    """``text`` with every credential the secret rules find, and each value in ``extra`` (key ids), as
    a preview."""
    from ringbreaker.scan import find

    rules, engine = _engine()
    data = text.encode("utf-8", "surrogatepass")
    with _SCAN:
        matches = find(rules, engine, data)
    if matches:
        out, last = bytearray(), 0
        for m in sorted(matches, key=lambda m: m.start):
            if m.start < last:
                continue
            out += data[last : m.start] + preview(m.value.decode("utf-8", "replace")).encode()
            last = m.end
        data = bytes(out + data[last:])
    result = data.decode("utf-8", "replace")
    for value in extra:
        if value and len(value) >= 16:
            result = result.replace(value, preview(value))
    return result


def prompt_preview(prompt: str | None, show: bool) -> str | None:
    """The prompt itself (``show``) or its first characters and its length."""
    if prompt is None or show:
        return prompt
    if len(prompt) <= PROMPT_PREVIEW:
        return f"{prompt[: PROMPT_PREVIEW // 2]}… (prompt redacted, {len(prompt)} chars)"
    return f"{prompt[:PROMPT_PREVIEW]}… (prompt redacted, {len(prompt)} chars)"


def _carries(value: str, prompt: str) -> bool:
    escaped = json.dumps(prompt)[1:-1]
    head = prompt[:_MIN_PIECE]
    return (len(value) >= _MIN_PIECE and (value in prompt or value in escaped)) or (
        len(head) >= 4 and (head in value or escaped[:_MIN_PIECE] in value)
    )


def _walk(node: Any, prompt: str) -> Any:
    if isinstance(node, str):
        if _carries(node, prompt):
            return f"[prompt redacted, {len(node)} chars]"
        try:  # a JSON document inside a string (Bedrock's body, a request payload)
            inner = json.loads(node) if node[:1] in "{[" else None
        except ValueError:
            inner = None
        return json.dumps(_walk(inner, prompt)) if isinstance(inner, dict | list) else node
    if isinstance(node, dict):
        return {k: _walk(v, prompt) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, prompt) for v in node]
    return node


def raw_record(raw: str | None, prompt: str | None, key_id: str | None, show_prompts: bool) -> str:
    """The event's original record, pretty-printed, with secrets (always) and its prompt (unless
    ``show_prompts``) redacted."""
    if not raw:
        return ""
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        doc = raw
    if prompt and not show_prompts:
        doc = _walk(doc, prompt)
    text = json.dumps(doc, indent=2, ensure_ascii=False) if not isinstance(doc, str) else doc
    return secrets(text, (key_id,) if key_id else ())
