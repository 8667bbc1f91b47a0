"""The single writer: batches into ``events`` and ``quarantine``, files into ``ingested_files``.

Every batch is one transaction (its events and its quarantine rows together), so a process killed
mid-ingest leaves whole batches only; a file is recorded in ``ingested_files`` after its last batch,
so a rerun reads it again and ``ON CONFLICT DO NOTHING`` on the stable ids drops what is already
stored. A file's quarantine rows are replaced, not added to, each time it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from ringbreaker.ingest.columns import Bad

_COLUMNS = (
    "provider, service, operation, category, status, error_code, actor, actor_type, account, resource, "
    "key_id, src_ip, src_asn, src_org, src_country, user_agent, model, region, api_version, tokens_in, "
    "tokens_out, end_user, forwarded, prompt, source_offset"
)
_INSERT = f"""
INSERT INTO events (id, time, key_fingerprint, source_format, source_file, raw, {_COLUMNS})
SELECT md5($fmt || chr(31) || rid), t,
       coalesce(key_fingerprint, sha256(key_src)), $fmt, $file, raw, {_COLUMNS}
FROM (SELECT *, TRY_CAST(time AS TIMESTAMPTZ) AS t FROM __ingest_batch)
WHERE t IS NOT NULL
ON CONFLICT DO NOTHING
"""
_BAD_TIME = """
SELECT source_offset, time, raw FROM __ingest_batch WHERE TRY_CAST(time AS TIMESTAMPTZ) IS NULL
"""
_QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_offset", pa.int64()),
        ("source_format", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class Known:
    sha256: str
    size: int
    format: str


@dataclass(slots=True)
class Written:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0


class Store:
    """Writes to an open, migrated workspace connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")

    def known(self, path: str) -> Known | None:
        row = self.con.execute(
            "SELECT sha256, size, format FROM ingested_files WHERE path = ?", [path]
        ).fetchone()
        return Known(str(row[0]), int(row[1]), str(row[2])) if row else None

    def begin_file(self, name: str) -> None:
        """Forget the quarantine rows of an earlier read of this file (it is being read again)."""
        if not self.con.execute("SELECT 1 FROM quarantine WHERE source_file = ? LIMIT 1", [name]).fetchone():
            return  # nothing to forget: no write, no commit
        self._tx(lambda: self.con.execute("DELETE FROM quarantine WHERE source_file = ?", [name]))

    def write(self, fmt: str | None, name: str, table: pa.Table | None, bad: list[Bad]) -> Written:
        """Store one batch and its quarantined records atomically."""
        out = Written()
        self.con.execute("BEGIN TRANSACTION")
        try:
            bad = list(bad)
            if table is not None and table.num_rows:
                self.con.register("__ingest_batch", table)
                try:
                    bad_time = self.con.execute(_BAD_TIME).fetchall()
                    for off, t, raw in bad_time:
                        reason = "missing time" if t is None else f"unparseable time {str(t)[:64]!r}"
                        bad.append(Bad(off, reason, raw or ""))
                    row = self.con.execute(_INSERT, {"fmt": fmt, "file": name}).fetchone()
                finally:
                    self.con.unregister("__ingest_batch")
                out.stored = int(row[0]) if row else 0
                out.duplicates = max(table.num_rows - len(bad_time) - out.stored, 0)
            if bad:
                self._quarantine(name, fmt, bad)
            out.quarantined = len(bad)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return out

    def quarantine_file(self, name: str, reason: str, head: str) -> None:
        """A whole file that could not be read as any format: one row, offset NULL."""
        self._tx(lambda: self._quarantine(name, None, [Bad(None, reason, head)]))

    def finish_file(self, path: str, sha256: str, size: int, fmt: str, read: int, w: Written) -> None:
        self._tx(
            lambda: self.con.execute(
                "INSERT OR REPLACE INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [path, sha256, size, fmt, read, w.stored, w.duplicates, w.quarantined, datetime.now(UTC)],
            )
        )

    def _quarantine(self, name: str, fmt: str | None, bad: list[Bad]) -> None:
        t = pa.Table.from_pydict(
            {
                "source_file": [name] * len(bad),
                "source_offset": [b.offset for b in bad],
                "source_format": [fmt] * len(bad),
                "reason": [b.reason for b in bad],
                "raw": [b.raw for b in bad],
            },
            schema=_QUARANTINE,
        )
        self.con.register("__ingest_bad", t)
        try:
            self.con.execute(
                "INSERT INTO quarantine SELECT source_file, source_offset, source_format, reason, raw, "
                "now() FROM __ingest_bad"
            )
        finally:
            self.con.unregister("__ingest_bad")

    def _tx(self, fn: Callable[[], object]) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            fn()
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
