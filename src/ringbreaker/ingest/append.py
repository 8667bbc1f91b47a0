"""Lines appended to a log file since it was last read, stored as a whole file would be.

``watch`` follows JSONL files (gateway logs, Azure diagnostic ``PT1H.json``) as shippers append to
them. Reading the whole file again on every poll would cost O(file) each time; instead the follower
hands over only the complete lines written since the last read (``Appended``) and this module parses
them through the same worker pipeline and the same single writer as ``ingest``. What makes it
safe across a kill is where the offset is kept: ``ingested_files.size`` (and ``sha256``) record the
bytes consumed so far, in the same transaction as the events of those bytes, so a restart resumes at
the last committed line and nothing is read twice or skipped. ``ingest`` itself then sees the same
row: a file unchanged since its last append is skipped, a grown one is read whole (ids dedupe).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ringbreaker.ingest.columns import Bad
from ringbreaker.ingest.pipeline import Batch, End, Failed, Start, Task, run_bundle
from ringbreaker.ingest.runner import FileReport, IngestConfig, Report
from ringbreaker.ingest.store import FileRef, Store
from ringbreaker.workspace import guarded
from ringbreaker.workspace.aliases import fill_key_fingerprints, last_event
from ringbreaker.workspace.evidence import store_dir

ONE_TRANSACTION = 1 << 62  # the Store's row limit: every piece of one call commits together


@dataclass(frozen=True, slots=True)
class Appended:
    """Complete lines of a line-oriented file, ``data`` = the file's bytes ``[end - len(data), end)``.

    ``first_line`` is the 1-based line number of data's first line (events' ``source_offset``);
    ``sha256`` the SHA-256 of the file's bytes ``[0, end)``, recorded with ``end`` in
    ``ingested_files`` once the lines are stored; ``restart``: the file is read from its start again
    (it shrank or its start changed), so its earlier quarantine rows are forgotten first; ``hint``:
    its format when known (a few lines may be too few to sniff)."""

    path: str
    data: bytes
    first_line: int
    end: int
    sha256: str
    restart: bool = False
    hint: str | None = None


class _Totals:
    """A file's counts over all its appends (what its ``ingested_files`` row keeps): the row's earlier
    totals plus this call's report, which is what a write to them changes."""

    def __init__(self, base: tuple[int, int, int, int], now: FileReport) -> None:
        self._base = dict(zip(("read", "stored", "duplicates", "quarantined"), base, strict=True))
        self._now = now

    def _get(self, name: str) -> int:
        return self._base[name] + int(getattr(self._now, name))

    def _set(self, name: str, value: int) -> None:
        setattr(self._now, name, value - self._base[name])

    read = property(lambda self: self._get("read"), lambda self, v: self._set("read", v))
    stored = property(lambda self: self._get("stored"), lambda self, v: self._set("stored", v))
    duplicates = property(lambda self: self._get("duplicates"), lambda self, v: self._set("duplicates", v))
    quarantined = property(lambda self: self._get("quarantined"), lambda self, v: self._set("quarantined", v))


def ingest_appended(
    con: duckdb.DuckDBPyConnection,
    pieces: Sequence[Appended],
    cfg: IngestConfig | None = None,
    *,
    on_file: Callable[[FileReport], None] | None = None,
) -> Report:
    """Store the lines of every piece, and each file's new ``end``/``sha256``, in one transaction.

    The reports' counts are this call's; the ``ingested_files`` row keeps the file's totals. A piece
    whose lines are no known format is reported ``ignored`` and gets no offset (the follower stops
    reading it), as ``ingest`` ignores such a file found in a directory."""
    cfg = cfg or IngestConfig()
    started = time.monotonic()
    with guarded(con, "ingest"):
        before = last_event(con)
        evidence = None if cfg.keep_raw else store_dir(con, cfg.evidence)
        store = Store(
            con,
            rows=ONE_TRANSACTION,
            keep_raw=evidence is None,
            evidence=None if evidence is None else str(evidence),
        )
        try:
            reports = _store(con, store, pieces, cfg, on_file)
        finally:
            store.close()
        report = Report(reports, time.monotonic() - started)
        report.keys_joined = fill_key_fingerprints(con, since=before).joined
        return report


def _store(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    pieces: Sequence[Appended],
    cfg: IngestConfig,
    on_file: Callable[[FileReport], None] | None,
) -> list[FileReport]:
    reports = [FileReport(p.path, shape="ndjson") for p in pieces]
    base = _earlier_totals(con, [p.path for p in pieces if not p.restart])
    tasks = [
        Task(
            key=i,
            name=p.path,
            data=p.data,
            hint=p.hint or cfg.hint,
            geoip=cfg.geoip,
            batch=cfg.batch,
            evidence=store.evidence,  # each appended chunk is its own blob: the file itself keeps growing
        )
        for i, p in enumerate(pieces)
    ]
    shift = np.array([p.first_line - 1 for p in pieces] or [0], dtype=np.int64)
    for msg in run_bundle(tasks):
        if isinstance(msg, Batch):
            for key, n in msg.read.items():
                reports[key].read += n
            refs: dict[int, FileRef] = {k: (reports[k].format, reports[k].path, reports[k]) for k in msg.read}
            bad = [
                (k, Bad(None if b.offset is None else b.offset + int(shift[k]), b.reason, b.raw))
                for k, b in msg.bad
            ]
            store.write(_shifted(msg.table, shift), bad, refs)
            continue
        rep, piece = reports[msg.key], pieces[msg.key]
        if isinstance(msg, Start):
            rep.format, rep.why, rep.compression = msg.format, msg.why, msg.compression
            rep.notes.extend(msg.notes)
            if piece.restart:
                store.begin_file(piece.path)
            store.cite(piece.path, msg.sha256, len(piece.data), line_base=piece.first_line - 1)
            if msg.format is None:  # as for a file found in a directory: ignored, not quarantined
                rep.status = "ignored"
        elif isinstance(msg, End):
            rep.notes.extend(msg.notes)
            if rep.status == "ingested" and rep.format:
                totals = _Totals(base.get(piece.path, (0, 0, 0, 0)), rep)
                store.finish_file(piece.path, piece.sha256, piece.end, rep.format, totals)
            if on_file:
                store.after(partial(on_file, rep))
        elif isinstance(msg, Failed):
            rep.status, rep.why = "failed", msg.message
            if on_file:
                store.after(partial(on_file, rep))
    store.flush()
    return reports


def _earlier_totals(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, tuple[int, int, int, int]]:
    if not paths:
        return {}
    rows = con.execute(
        "SELECT path, records, stored, duplicates, quarantined FROM ingested_files "
        "WHERE list_contains(?, path)",
        [paths],
    ).fetchall()
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def _shifted(table: pa.Table | None, shift: np.ndarray) -> pa.Table | None:
    """The batch with each row's line number counted from its file's start, not its piece's."""
    if table is None or not table.num_rows or not shift.any():
        return table
    i = table.schema.get_field_index("source_offset")
    field = table.schema.field(i)
    add = pa.array(shift[table.column("key").to_numpy()], field.type)
    return table.set_column(i, field, pc.add(table.column(i), add))
