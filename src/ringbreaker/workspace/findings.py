"""Store scan findings in the workspace: upsert by (fingerprint, location), in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from ringbreaker.model import Finding

# Field -> column, as Finding declares it (time -> leak_time, commit -> commit_id, column -> col);
# location, first_seen and last_seen are the writer's own (identity and bookkeeping).
_COLUMNS = Finding.column_map()
_NAMES = (*_COLUMNS.values(), "location", "first_seen", "last_seen")
_UPSERT = f"""
INSERT INTO findings ({", ".join(_NAMES)})
VALUES ({", ".join("$" + c for c in _COLUMNS.values())}, $location, $now, $now)
ON CONFLICT (fingerprint, location) DO UPDATE SET
    id = EXCLUDED.id, rule = EXCLUDED.rule, provider = EXCLUDED.provider, preview = EXCLUDED.preview,
    length = EXCLUDED.length, line = EXCLUDED.line, col = EXCLUDED.col, cell = EXCLUDED.cell,
    confidence = EXCLUDED.confidence, owned = EXCLUDED.owned, paired = EXCLUDED.paired,
    last_seen = EXCLUDED.last_seen, resource = coalesce(EXCLUDED.resource, findings.resource),
    -- keep the earliest known leak (the introducing commit) across rescans
    commit_id = CASE WHEN findings.leak_time IS NULL OR EXCLUDED.leak_time < findings.leak_time
                     THEN EXCLUDED.commit_id ELSE findings.commit_id END,
    author = CASE WHEN findings.leak_time IS NULL OR EXCLUDED.leak_time < findings.leak_time
                  THEN EXCLUDED.author ELSE findings.author END,
    author_email = CASE WHEN findings.leak_time IS NULL OR EXCLUDED.leak_time < findings.leak_time
                        THEN EXCLUDED.author_email ELSE findings.author_email END,
    author_date = CASE WHEN findings.leak_time IS NULL OR EXCLUDED.leak_time < findings.leak_time
                       THEN EXCLUDED.author_date ELSE findings.author_date END,
    leak_time = least(findings.leak_time, EXCLUDED.leak_time)
"""


def upsert_findings(con: duckdb.DuckDBPyConnection, findings: Sequence[Finding]) -> int:
    """Insert or update every finding atomically; the secret itself is never written."""
    now = datetime.now(UTC)
    rows = [
        {**{c: getattr(f, name) for name, c in _COLUMNS.items()}, "location": f.location, "now": now}
        for f in findings
    ]
    con.execute("BEGIN TRANSACTION")
    try:
        for row in rows:
            con.execute(_UPSERT, row)
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    return len(rows)
