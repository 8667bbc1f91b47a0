"""Key-owner workflows: an inventory of one's own keys, and a baseline of accepted findings."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ringbreaker.errors import InputError
from ringbreaker.model import Finding, fingerprint

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
BASELINE_VERSION = 1


def read_inventory(path: Path) -> frozenset[str]:
    """Fingerprints of the owner's keys. Each non-blank, non-# line is a key (hashed on read, never
    kept) or already a SHA-256 fingerprint; ``NAME=value`` lines (a .env file) use the value."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read inventory: {e}", source=str(path)) from e
    fps: set[str] = set()
    for raw in lines:
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        if "=" in item and not _SHA256.match(item):
            item = item.split("=", 1)[1].strip().strip("'\"")
        fps.add(item.lower() if _SHA256.match(item) else fingerprint(item))
    return frozenset(fps)


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
