"""Store scan findings in the workspace: upsert by (fingerprint, location), in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from ringbreaker.model import Finding

_UPSERT = """
INSERT INTO findings VALUES ($fingerprint, $location, $id, $rule, $provider, $preview, $length, $path,
    $line, $col, $cell, $confidence, $leak_time, $commit_id, $author, $author_email, $author_date, $repo,
    $owned, $paired, $now, $now, $resource)  -- resource: added by migration 6, so last
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


def location(f: Finding) -> str:
    return f.path if f.cell is None else f"{f.path}#cell{f.cell}"


def upsert_findings(con: duckdb.DuckDBPyConnection, findings: Sequence[Finding]) -> int:
    """Insert or update every finding atomically; the secret itself is never written."""
    now = datetime.now(UTC)
    rows = [
        {
            "fingerprint": f.fingerprint,
            "location": location(f),
            "id": f.id,
            "rule": f.rule,
            "provider": f.provider,
            "preview": f.preview,
            "length": f.length,
            "path": f.path,
            "line": f.line,
            "col": f.column,
            "cell": f.cell,
            "confidence": f.confidence,
            "leak_time": f.time,
            "commit_id": f.commit,
            "author": f.author,
            "author_email": f.author_email,
            "author_date": f.author_date,
            "repo": f.repo,
            "owned": f.owned,
            "paired": f.paired,
            "resource": f.resource,
            "now": now,
        }
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
