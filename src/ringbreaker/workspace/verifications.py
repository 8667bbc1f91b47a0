"""The ``scan --verify`` cache: table ``verifications``, one row per (fingerprint, rule)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from ringbreaker.model import Verification

_COLUMNS = tuple(Verification.column_map().values())
_UPSERT = f"""
INSERT INTO verifications ({", ".join(_COLUMNS)}) VALUES ({", ".join("$" + c for c in _COLUMNS)})
ON CONFLICT (fingerprint, rule) DO UPDATE SET
    provider = EXCLUDED.provider, verified = EXCLUDED.verified, http_status = EXCLUDED.http_status,
    endpoint = EXCLUDED.endpoint, verified_at = EXCLUDED.verified_at
"""


def read_verifications(con: duckdb.DuckDBPyConnection, since: datetime) -> list[Verification]:
    """Every cached answer at or after ``since`` (older ones are asked again)."""
    rows = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM verifications WHERE verified_at >= $since", {"since": since}
    ).fetchall()
    return [Verification(*row) for row in rows]


def store_verifications(con: duckdb.DuckDBPyConnection, rows: Sequence[Verification]) -> int:
    """Insert or replace the answers atomically (the key is never stored, only its fingerprint)."""
    if not rows:
        return 0
    con.execute("BEGIN TRANSACTION")
    try:
        for v in rows:
            con.execute(_UPSERT, {c: getattr(v, c) for c in _COLUMNS})
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    return len(rows)
