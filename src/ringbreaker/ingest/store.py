"""The single writer: batches into ``events`` and ``quarantine``, files into ``ingested_files``.

Writes are grouped: the rows of many small files (or one chunk of a big one) accumulate until about
one batch of records is pending, then go in one transaction together with their quarantine rows,
the deletion of the files' earlier quarantine rows and the ``ingested_files`` rows of the files whose
last records are in it. A process killed mid-ingest therefore leaves whole groups only, and a file
is recorded as ingested in the same transaction as its last records, so a rerun reads the unfinished
ones again and the duplicate check drops what is already stored.

``events`` has no primary key (see migration 2): each transaction keeps the first row of every id
that is neither repeated earlier in its batch nor already in ``events`` (an anti-join on ``id``),
which is correct because this is the table's only writer and DuckDB lets one process at a time open
the workspace for writing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ringbreaker.ingest.columns import Bad, arrow_schema
from ringbreaker.ingest.detect import FORMATS
from ringbreaker.model import EVENT_COLUMNS, EvidenceFile, IngestedFile, Quarantined

# raw in a by-reference ingest: only where the record's format says a detection rule reads it
_RAW_KEPT = (
    "CASE WHEN f.keep_raw THEN b.raw"
    + "".join(f" WHEN f.fmt = '{n}' THEN CASE WHEN {f.raw_kept} THEN b.raw END" for n, f in FORMATS.items())
    + " END"
)

# Every events column (model.Event's fields) from the kept batch row `b` or its file `f`: the parser's
# columns as they are, the rest computed here.
_COMPUTED = {
    "id": "b.id",
    "time": "TRY_CAST(b.time AS TIMESTAMPTZ)",
    "key_fingerprint": "coalesce(b.key_fingerprint, sha256(b.key_src))",
    "source_format": "f.fmt",
    "source_file": "f.file",
    "source_sha256": "f.sha",
    "raw": _RAW_KEPT,
}
_VALUES = {c: _COMPUTED.get(c, f"b.{c}") for c in EVENT_COLUMNS}
# rows to keep: the first of each id among the rows with a valid time, minus the ids already stored
_KEEP = """
SELECT k.i, k.id FROM (
    SELECT min(i) AS i, id FROM (
        SELECT b.i, md5(f.fmt || chr(31) || b.rid) AS id
        FROM __ingest_batch b JOIN __ingest_files f USING (fk)
        WHERE TRY_CAST(b.time AS TIMESTAMPTZ) IS NOT NULL
    ) GROUP BY id
) k ANTI JOIN events e ON e.id = k.id
ORDER BY k.i
"""
_INSERT = f"""
INSERT INTO events ({", ".join(_VALUES)})
SELECT {", ".join(_VALUES.values())}
FROM __ingest_keep b JOIN __ingest_files f USING (fk)
"""
_BAD_TIME = """
SELECT fk, source_offset, time, raw FROM __ingest_batch WHERE TRY_CAST(time AS TIMESTAMPTZ) IS NULL
"""
_QUARANTINE = pa.schema([f for f in arrow_schema(Quarantined) if f.name != "ingested_at"])  # now() on insert
_FILES = pa.schema(
    [
        ("fk", pa.int32()),
        ("fmt", pa.string()),
        ("file", pa.string()),
        ("sha", pa.string()),
        ("keep_raw", pa.bool_()),
    ]
)
_FINISHED = arrow_schema(IngestedFile)  # field order is the column order: inserted with SELECT *
_EVIDENCE = arrow_schema(EvidenceFile)
MAX_FILES = 16_384  # files finished in one transaction at most (see finish_file)
ROW_GROUP = 122_880  # DuckDB's rows per row group (see Store.flush)
MEMORY_LIMIT = 256 << 20  # DuckDB's buffer pool while ingesting: written blocks need not stay cached
_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}  # fmt: skip


class Counts(Protocol):
    """Where a file's totals go (a FileReport): updated when its rows are committed."""

    read: int
    stored: int
    duplicates: int
    quarantined: int


FileRef = tuple[str | None, str, Counts]  # a batch's file: (format, source_file, where its totals go)


@dataclass(frozen=True, slots=True)
class Known:
    sha256: str
    size: int
    format: str


@dataclass(slots=True)
class _Group:
    tables: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    files: dict[tuple[str | None, str], int] = field(default_factory=dict)  # (format, file) -> fk
    counts: list[Counts] = field(default_factory=list)  # by fk
    bad: list[tuple[int, Bad]] = field(default_factory=list)  # (fk, record)
    forget: list[str] = field(default_factory=list)
    finished: list[tuple[str, str, int, str, Counts]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)
    evidence: list[dict[str, object]] = field(default_factory=list)  # rows for table evidence


class Store:
    """Writes to an open, migrated workspace connection, one transaction per group of rows."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        rows: int = 65_536,
        files: int = MAX_FILES,
        *,
        keep_raw: bool = True,
        evidence: str | None = None,
    ) -> None:
        """``keep_raw``: store every record's JSON in ``raw`` (else only where its format's
        ``raw_kept`` says a rule reads it); ``evidence``: the store the files are put in (recorded
        in table ``evidence``), None when none is kept."""
        self.con = con
        self.keep_raw = keep_raw
        self.evidence = evidence
        self._cited: dict[str, str] = {}  # source_file -> sha256 its rows cite
        self.max_rows = rows
        self.max_files = files
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        self._g = _Group()
        self._quarantined: set[str] | None = None
        self._memory_limit: str | None = None
        limit = self._setting("memory_limit")
        if _bytes(limit) > MEMORY_LIMIT:
            con.execute("RESET memory_limit")
            self._memory_limit = "" if self._setting("memory_limit") == limit else limit  # "": the default
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT >> 20}MiB'")

    def _setting(self, name: str) -> str:
        row = self.con.execute("SELECT current_setting(?)", [name]).fetchone()
        return str(row[0]) if row else ""

    def close(self) -> None:
        """Commit what is queued and give the connection its memory limit back."""
        self.flush()
        self._restore()

    def abandon(self) -> None:
        """After a failure: drop what is queued (its files are not recorded as ingested, so a rerun
        reads them again) and give the memory limit back if the connection still can. Raises
        nothing, so the failure that brought us here is the one reported."""
        self._g = _Group()
        with contextlib.suppress(duckdb.Error):
            self._restore()

    def _restore(self) -> None:
        if self._memory_limit == "":
            self.con.execute("RESET memory_limit")
        elif self._memory_limit is not None:
            self.con.execute(f"SET memory_limit = '{self._memory_limit}'")
        self._memory_limit = None

    def known_all(self) -> dict[str, Known]:
        """Every file recorded as ingested, by path (one query)."""
        got = self.con.execute("SELECT path, sha256, size, format FROM ingested_files").fetchall()
        return {str(p): Known(str(s), int(n), str(f)) for p, s, n, f in got}

    def cite(self, name: str, sha256: str | None, size: int, line_base: int = 0) -> None:
        """The SHA-256 the rows of ``name`` cite from now on; with an evidence store, the blob's
        ``evidence`` row is written in the transaction of those rows."""
        if sha256 is None:
            return
        self._cited[name] = sha256
        if self.evidence is not None:
            self._g.evidence.append(
                {"sha256": sha256, "source_file": name, "line_base": line_base, "size": size,
                 "store": self.evidence, "added": datetime.now(UTC)}
            )  # fmt: skip

    def begin_file(self, name: str) -> None:
        """Forget the quarantine rows of an earlier read of this file (it is being read again), in the
        transaction that writes the file's first rows."""
        if self._quarantined is None:
            got = self.con.execute("SELECT DISTINCT source_file FROM quarantine").fetchall()
            self._quarantined = {str(r[0]) for r in got}
        if name in self._quarantined:
            self._quarantined.discard(name)
            self._g.forget.append(name)

    def write(self, table: pa.Table | None, bad: list[tuple[int, Bad]], files: Mapping[int, FileRef]) -> None:
        """Queue one batch (rows tagged with their file's ``key`` column) and its quarantined
        records; ``files`` names every key in it, whose counts are updated once they are committed."""
        g = self._g
        fks: dict[int, int] = {}
        for key, (fmt, name, counts) in files.items():
            fk = g.files.get((fmt, name))
            if fk is None:
                fk = g.files[(fmt, name)] = len(g.counts)
                g.counts.append(counts)
            fks[key] = fk
        g.bad.extend((fks[key], b) for key, b in bad)
        if table is not None and table.num_rows:
            n = table.num_rows
            lut = np.zeros(max(fks) + 1, dtype=np.int32)
            for key, fk in fks.items():
                lut[key] = fk
            fk_col = lut[table.column("key").to_numpy()]
            table = table.drop_columns(["key"])
            table = table.append_column("fk", pa.array(fk_col))
            table = table.append_column("i", pa.array(np.arange(g.rows, g.rows + n, dtype=np.int64)))
            g.tables.append(table)
            g.rows += n
        if g.rows >= self.max_rows:
            self.flush(whole_row_groups=True)

    def quarantine_file(self, name: str, reason: str, head: str, counts: Counts) -> None:
        """A whole file that could not be read as any format: one row, offset NULL."""
        self.write(None, [(0, Bad(None, reason, head))], {0: (None, name, counts)})

    def finish_file(self, path: str, sha256: str, size: int, fmt: str, counts: Counts) -> None:
        """Record a file as ingested, in the transaction of its last rows. Many files finished commit
        their rows in whole row groups too: at 4,096 files a transaction, a tree of small CloudTrail
        objects (~15 records each) committed ~60k-row partial groups, rewritten at the next commit."""
        self._g.finished.append((path, sha256, size, fmt, counts))
        if len(self._g.finished) >= self.max_files:
            self.flush(whole_row_groups=True)

    def after(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once everything queued so far is committed."""
        self._g.after.append(fn)

    def flush(self, *, whole_row_groups: bool = False) -> None:
        """Commit everything queued, in one transaction, then run the ``after`` callbacks.

        ``whole_row_groups``: commit only the first multiple of ROW_GROUP rows and keep the rest
        queued. DuckDB writes a committed full row group once; a partial one is written, then read
        and compressed again when the next transaction fills it: on CloudTrail that doubled the
        insert's CPU time and left a file 1.8x bigger (11.6 against 6.4 µs an event, 103 against 57 MB)."""
        g, self._g = self._g, _Group()
        if whole_row_groups and g.rows > ROW_GROUP and g.rows % ROW_GROUP:
            g, self._g = _split(g, g.rows // ROW_GROUP * ROW_GROUP)
        if not (g.tables or g.bad or g.forget or g.finished or g.evidence):
            for fn in g.after:
                fn()
            return
        stored = np.zeros(len(g.counts), dtype=np.int64)
        total = np.zeros(len(g.counts), dtype=np.int64)
        bad = list(g.bad)
        names = {fk: key for key, fk in g.files.items()}
        self._exec("BEGIN TRANSACTION")
        try:
            if g.forget:
                self._with("__ingest_forget", pa.table({"file": g.forget}), lambda: self._exec(
                    "DELETE FROM quarantine WHERE source_file IN (SELECT file FROM __ingest_forget)"
                ))  # fmt: skip
            if g.evidence:
                cited = pa.Table.from_pylist(g.evidence, schema=_EVIDENCE)
                self._with("__ingest_evidence", cited, lambda: self._exec(
                    "INSERT OR IGNORE INTO evidence SELECT * FROM __ingest_evidence"
                ))  # fmt: skip
            if g.tables:
                stored, total, bad_time = self._events(g, len(g.counts))
                bad.extend(bad_time)
            if bad:
                self._quarantine(bad, names)
            quarantined = np.bincount(
                np.array([fk for fk, _ in bad], dtype=np.int64), minlength=len(g.counts)
            )
            for fk, c in enumerate(g.counts):
                c.stored += int(stored[fk])
                c.quarantined += int(quarantined[fk])
                c.duplicates += max(int(total[fk]) - int(stored[fk]), 0)
            if g.finished:
                now = datetime.now(UTC)
                t = pa.Table.from_pylist(
                    [
                        {
                            "path": p,
                            "sha256": s,
                            "size": n,
                            "format": f,
                            "records": c.read,
                            "stored": c.stored,
                            "duplicates": c.duplicates,
                            "quarantined": c.quarantined,
                            "finished_at": now,
                        }
                        for p, s, n, f, c in g.finished
                    ],
                    schema=_FINISHED,
                )
                self._with("__ingest_done", t, lambda: self._exec(
                    "INSERT OR REPLACE INTO ingested_files SELECT * FROM __ingest_done"
                ))  # fmt: skip
            self._exec("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed commit may have ended it already
                self._exec("ROLLBACK")
            raise
        for fn in g.after:
            fn()

    def _events(self, g: _Group, nfiles: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, Bad]]]:
        """Insert the group's rows; (stored per file, rows with a valid time per file, bad-time rows)."""
        batch = pa.concat_tables(g.tables)
        files = pa.table(
            [
                pa.array(list(g.files.values()), pa.int32()),
                pa.array([k[0] for k in g.files], pa.string()),
                pa.array([k[1] for k in g.files], pa.string()),
                pa.array([self._cited.get(k[1]) for k in g.files], pa.string()),
                pa.array([self.keep_raw] * len(g.files), pa.bool_()),
            ],
            schema=_FILES,
        )
        con = self.con
        con.register("__ingest_batch", batch)
        con.register("__ingest_files", files)
        try:
            bad_time: list[tuple[int, Bad]] = []
            for fk, off, t, raw in con.execute(_BAD_TIME).fetchall():
                reason = "missing time" if t is None else f"unparseable time {str(t)[:64]!r}"
                bad_time.append((int(fk), Bad(off, reason, raw or "")))
            keep = con.sql(_KEEP).to_arrow_table()
            if keep.num_rows:
                # the rows to insert, with their ids: the batch itself when every row is kept (the
                # usual case: `i` is the row number, so keep is 0..n-1 in order), else the kept rows
                rows = batch if keep.num_rows == batch.num_rows else batch.take(keep.column("i"))
                rows = rows.append_column("id", keep.column("id"))
                con.register("__ingest_keep", rows)
                try:
                    self._exec(_INSERT)
                finally:
                    _unregister(con, "__ingest_keep")
        finally:
            _unregister(con, "__ingest_files")
            _unregister(con, "__ingest_batch")
        fks = batch.column("fk").combine_chunks().to_numpy()
        total = np.bincount(fks, minlength=nfiles)
        for fk, _ in bad_time:
            total[fk] -= 1
        kept = pc.take(batch.column("fk"), keep.column("i")).to_numpy() if keep.num_rows else fks[:0]
        stored = np.bincount(kept, minlength=nfiles)
        return stored, total, bad_time

    def _quarantine(self, bad: list[tuple[int, Bad]], names: dict[int, tuple[str | None, str]]) -> None:
        t = pa.Table.from_pydict(
            {
                "source_file": [names[fk][1] for fk, _ in bad],
                "source_offset": [b.offset for _, b in bad],
                "source_format": [names[fk][0] for fk, _ in bad],
                "reason": [b.reason for _, b in bad],
                "raw": [b.raw for _, b in bad],
            },
            schema=_QUARANTINE,
        )
        self._with("__ingest_bad", t, lambda: self._exec(
            f"INSERT INTO quarantine SELECT {', '.join(_QUARANTINE.names)}, now() FROM __ingest_bad"
        ))  # fmt: skip

    def _exec(self, sql: str) -> None:
        self.con.execute(sql).fetchall()

    def _with(self, name: str, table: pa.Table, fn: Callable[[], object]) -> None:
        self.con.register(name, table)
        try:
            fn()
        finally:
            _unregister(self.con, name)


def _unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered view even from an aborted transaction, without hiding why it aborted."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)


def _split(g: _Group, cut: int) -> tuple[_Group, _Group]:
    """The group's first ``cut`` rows, and a group of the rest. A finished file goes with the part
    holding its last row (its ingested_files row must commit with its last records); the ``after``
    callbacks wait for the rest when any finished file does."""
    batch = pa.concat_tables(g.tables)
    fks = batch.column("fk").to_numpy()
    last = np.full(len(g.counts), -1, dtype=np.int64)
    np.maximum.at(last, fks, np.arange(len(fks)))
    now: list[tuple[str, str, int, str, Counts]] = []
    later: list[tuple[str, str, int, str, Counts]] = []
    for f in g.finished:
        fk = g.files.get((f[3], f[0]))
        (later if fk is not None and last[fk] >= cut else now).append(f)
    head = _Group([batch.slice(0, cut)], cut, g.files, g.counts, g.bad, g.forget, now, evidence=g.evidence)
    rest = batch.slice(cut)
    rest = rest.set_column(
        rest.schema.get_field_index("i"), "i", pa.array(np.arange(rest.num_rows, dtype=np.int64))
    )
    tail = _Group(
        [rest], rest.num_rows, dict(g.files), list(g.counts),
        finished=later,
    )  # fmt: skip
    if tail.finished:
        tail.after = g.after
    else:
        head.after = g.after
    return head, tail


def _bytes(setting: str) -> float:
    """'18.8 GiB' -> bytes; an unreadable value counts as unlimited."""
    num, _, unit = setting.strip().partition(" ")
    try:
        return float(num) * _UNITS.get(unit, 1)
    except ValueError:
        return float("inf")
