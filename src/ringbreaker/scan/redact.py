"""Redaction: the only form in which a found credential leaves the process by default."""

from __future__ import annotations


def preview(secret: str) -> str:
    """A short prefix and the length, e.g. ``sk-proj-Ab…(164)``: enough to recognise the key type
    and tell keys apart in a report, far too little to use it."""
    n = len(secret)
    keep = min(12, max(4, n // 8))
    return f"{secret[:keep]}…({n})"
