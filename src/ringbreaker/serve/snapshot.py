"""Read-only access to a workspace that another process may be writing: a refreshed snapshot copy.

Why a copy and not connections to the file itself: DuckDB lets one process write a file, and a
process holding even a read-only connection makes every writer fail at once with "Conflicting lock"
(it does not wait). A server that kept the workspace open would stop ``ingest`` and ``detect``; one
that opened it per request would answer nothing while they run (minutes on a large workspace).

So the server reads a private copy of the file and never opens the workspace for longer than a
probe:

1. *probe*: open the workspace ``read_only`` and close it at once (milliseconds). It fails while a
   writer holds the file; then the old snapshot stays in use and the probe is retried later, with
   backoff. It succeeds only when no writer has the file, i.e. when the file is checkpointed whole.
2. *copy*: copy the file (and a ``.wal`` left behind, if any) into the snapshot directory, holding no
   lock, so a writer that starts meanwhile is not stopped.
3. *check*: stat the workspace again. If size or mtime changed during the copy a writer checkpointed
   into it, the copy may mix old and new blocks, and it is thrown away (a writer that only appended to
   its WAL leaves the main file, and so the copy, at the last checkpoint, which is consistent). The
   copy is then opened ``read_only`` to prove it is a database.
4. *swap*: new requests use the new copy; the old one is closed and deleted when its last request ends.

A background thread repeats this whenever the workspace's (size, mtime) differs from the snapshot's.
The workspace file is only ever opened ``read_only`` and copied; the server writes nothing to it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import WorkspaceError
from ringbreaker.serve import summaries

if TYPE_CHECKING:
    import duckdb

POLL_S = 1.0  # how often the refresher looks at the workspace's size and mtime
MAX_BACKOFF_S = 15.0  # longest wait between probes while a writer holds the file
MEMO_ENTRIES = 512  # results kept per snapshot (oldest dropped first)


def _stat(path: Path) -> tuple[int, int, int]:
    """(size, mtime_ns, WAL size or -1): what changes when a writer touches the workspace."""
    st = path.stat()
    wal = path.with_name(path.name + ".wal")
    return st.st_size, st.st_mtime_ns, wal.stat().st_size if wal.exists() else -1


# Lookups by event id (an event page, an alert's evidence) would scan the whole id column: events
# have no index in the workspace, on purpose (ingest's insert cost). The snapshot is the server's own
# file, so it gets the index after the copy; the workspace never does.
INDEXES = ("CREATE INDEX IF NOT EXISTS serve_events_id ON events (id)",)


def index(copy: Path) -> None:
    """Add the server's lookup indexes and summaries (summaries.py) to a snapshot copy (never to the
    workspace itself)."""
    import duckdb

    con = duckdb.connect(str(copy))
    try:
        con.execute("SET enable_progress_bar = false")
        have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "events" in have:
            for sql in INDEXES:
                con.execute(sql)
            summaries.build(con)
            con.execute("CHECKPOINT")
    finally:
        con.close()


@dataclass
class Snapshot:
    """One copy of the workspace, its connection and the requests using it (closed when retired and
    unused)."""

    path: Path
    con: duckdb.DuckDBPyConnection
    source_stat: tuple[int, int, int]
    taken: datetime
    users: int = 0
    retired: bool = False
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def memo(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """``make()``, computed once per snapshot and key (a snapshot never changes): the pages every
        reader asks for (the overview, a hot key) cost their queries once per refresh."""
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        value = make()
        with self.lock:
            if len(self.cache) >= MEMO_ENTRIES:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = value
        return value

    def close_if_done(self) -> None:
        """Close and delete the copy once it is retired and no request holds it."""
        with self.lock:
            if not (self.retired and self.users == 0) or self.closed:
                return
            self.closed = True
        self.con.close()
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            p.unlink(missing_ok=True)


class Snapshots:
    """The current snapshot of a workspace, refreshed in the background (see the module docstring)."""

    def __init__(self, workspace: Path, directory: Path | None = None, *, poll_s: float = POLL_S) -> None:
        self.workspace = workspace
        self._own_dir = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="ringbreaker-serve-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.poll_s = poll_s
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self.busy_since: datetime | None = None  # when a writer was first seen holding the file
        self.last_error: str | None = None

    # -- taking a snapshot

    def refresh(self) -> bool:
        """Take a new snapshot if the workspace changed and no writer holds it; True when one was taken."""
        import duckdb

        current = self._current
        try:
            before = _stat(self.workspace)
        except OSError as e:
            self.last_error = f"cannot read the workspace: {e.strerror or e}"
            return False
        if current is not None and current.source_stat == before:
            self.busy_since = None
            return False
        try:  # the probe: fails at once while a writer holds the file
            duckdb.connect(str(self.workspace), read_only=True).close()
        except duckdb.Error as e:
            self.busy_since = self.busy_since or datetime.now(UTC)
            self.last_error = str(e).splitlines()[0]
            return False
        self._generation += 1
        target = self.directory / f"snapshot-{self._generation}.duckdb"
        try:
            before = _stat(self.workspace)
            shutil.copyfile(self.workspace, target)
            wal = self.workspace.with_name(self.workspace.name + ".wal")
            if before[2] >= 0:
                with contextlib.suppress(FileNotFoundError):
                    shutil.copyfile(wal, target.with_name(target.name + ".wal"))
            if _stat(self.workspace) != before:  # a writer checkpointed during the copy: not consistent
                raise OSError("the workspace changed during the copy")
            index(target)
            con = duckdb.connect(str(target), read_only=True)
            con.execute("SET enable_progress_bar = false")
        except (OSError, duckdb.Error) as e:
            self.busy_since = self.busy_since or datetime.now(UTC)
            self.last_error = str(e).splitlines()[0]
            for p in (target, target.with_name(target.name + ".wal")):
                p.unlink(missing_ok=True)
            return False
        fresh = Snapshot(target, con, before, datetime.now(UTC))
        with self._lock:
            old, self._current = self._current, fresh
        self.busy_since, self.last_error = None, None
        if old is not None:
            with old.lock:
                old.retired = True
            old.close_if_done()
        return True

    def wait_first(self, timeout_s: float) -> None:
        """Take the first snapshot, retrying while a writer holds the file; WorkspaceError on timeout."""
        if not self.workspace.exists():
            raise WorkspaceError(
                "no workspace here: run `ringbreaker demo` or `ingest` first", source=str(self.workspace)
            )
        deadline = time.monotonic() + timeout_s
        delay = 0.1
        while not self.refresh() and self._current is None:
            if time.monotonic() > deadline:
                raise WorkspaceError(
                    f"cannot read the workspace for {timeout_s:.0f}s: {self.last_error}",
                    source=str(self.workspace),
                )
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)

    def _loop(self) -> None:
        delay = self.poll_s
        while not self._stop.wait(delay):
            self.refresh()
            # back off while a writer holds the file (each probe is cheap, but need not be frequent)
            delay = min(delay * 2, MAX_BACKOFF_S) if self.busy_since else self.poll_s

    def start(self) -> None:
        """Start the background refresher (a daemon thread)."""
        self._thread = threading.Thread(target=self._loop, name="ringbreaker-snapshot", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop refreshing, close the current snapshot and remove the copies this object made."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            with current.lock:
                current.retired = True
            current.close_if_done()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- reading

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the current snapshot for one request (a DuckDB cursor is its own connection to
        the same database, safe to use from the request's thread)."""
        with self._lock:
            snap = self._current
            if snap is None:
                raise WorkspaceError("no snapshot of the workspace yet", source=str(self.workspace))
            with snap.lock:
                snap.users += 1
        cur = snap.con.cursor()
        try:
            yield cur
        finally:
            cur.close()
            with snap.lock:
                snap.users -= 1
            snap.close_if_done()

    def memo(self, key: tuple[Any, ...], make: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """``make(cursor)`` on the current snapshot, once per snapshot and key (see Snapshot.memo)."""
        with self._lock:
            snap = self._current
        if snap is None:
            raise WorkspaceError("no snapshot of the workspace yet", source=str(self.workspace))

        def compute() -> Any:
            with self.cursor() as con:
                return make(con)

        return snap.memo(key, compute)

    @property
    def taken(self) -> datetime | None:
        """When the snapshot in use was copied (None before the first)."""
        return self._current.taken if self._current else None
