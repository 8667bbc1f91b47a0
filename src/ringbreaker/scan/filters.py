"""Confirmation filters applied to every candidate credential, whatever engine found it."""

from __future__ import annotations

import math
import re
from collections import Counter

# Words that mark a documentation sample, template or redaction rather than a live key. Kept to
# five letters or more (or punctuation runs) so a random key almost never contains one by chance.
_PLACEHOLDER = re.compile(
    rb"(?i)example|placeholder|your[_-]?(?:api|key|token|secret|own)|yourkey|xxxxx|redacted|changeme|"
    rb"insert|replace[_-]?me|dummy|sample|\.\.\.|\*\*\*|<[a-z_-]+>|\$\{|\{\{"
)
_RUN = re.compile(rb"(.)\1{5,}")  # six or more of one character
_SEQUENCES = (b"0123456789", b"abcdefghij", b"ABCDEFGHIJ", b"1234567890")


def shannon_entropy(value: bytes) -> float:
    """Bits per character; random base62 of length 40 scores about 5, English text under 4.5."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def placeholder_reason(value: bytes) -> str | None:
    """Why a value looks like a placeholder, docs sample or redaction; None if it does not."""
    m = _PLACEHOLDER.search(value)
    if m:
        return f"placeholder text {m.group(0).decode('ascii', 'replace')!r}"
    if _RUN.search(value):
        return "long run of one character"
    for seq in _SEQUENCES:
        if seq in value:
            return "sequential characters"
    return None
