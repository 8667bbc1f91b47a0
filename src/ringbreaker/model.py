"""Frozen value types shared by every stage.

Later stages add Event, Alert, Verdict, Entity, Edge, Crew and Case here; each stage's tables in
the workspace mirror these fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Finding", "fingerprint"]


def fingerprint(secret: str | bytes) -> str:
    """SHA-256 hex of the exact credential string: the thread that joins a leak to its abuse."""
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Finding:
    """One leaked credential at one location.

    ``id`` is stable across runs and edits (rule, fingerprint and path; never the line), so
    baselines survive. ``secret`` is kept in memory only, for ``--show-secrets``; it is never
    stored in the workspace and never printed otherwise.
    """

    id: str
    rule: str
    provider: str
    title: str
    fingerprint: str
    preview: str
    length: int
    path: str
    line: int
    column: int
    confidence: str
    time: str | None = None
    commit: str | None = None
    author: str | None = None
    author_email: str | None = None
    author_date: str | None = None
    repo: str | None = None
    cell: int | None = None
    owned: bool = False
    paired: bool = False
    resource: str | None = None  # where the key is used, named near it (Azure resource name)
    secret: str | None = None

    def to_dict(self, *, show_secret: bool = False) -> dict[str, Any]:
        """The JSON shape of a finding (the jsonl contract); the secret only on request."""
        d = asdict(self)
        if not show_secret:
            d.pop("secret")
        return d
