"""Paths to stored events: expand inputs, skip unchanged files, fan parsing out to worker
processes (one file per worker at a time) and write everything through one Store."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import multiprocessing as mp
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.errors import InputError, ResourceError, UsageError
from ringbreaker.ingest.detect import FORMATS
from ringbreaker.ingest.pipeline import (
    BATCH,
    Batch,
    End,
    Failed,
    Message,
    Start,
    Task,
    run_bundle,
    unspill,
    worker,
)
from ringbreaker.ingest.store import FileRef, Store
from ringbreaker.workspace import guarded, path_of
from ringbreaker.workspace.aliases import fill_key_fingerprints, last_event
from ringbreaker.workspace.evidence import store_dir

GROUP_BATCHES = 4  # a transaction holds up to this many batches of records (at least a row group)
# below this many input bytes, starting workers (~0.5 CPU-s each) costs more than they save: a
# simulated world of 40 MB ingests in 1.8 s in-process against 2.0 s with two workers; 91 MB in
# 5.5 s against 4.8 s
PARALLEL_MIN_BYTES = 48 << 20
BUNDLE_BYTES = 2 << 20  # a worker takes files in bundles of about this many bytes (one big file alone)
BUNDLE_FILES = 4096  # and at most this many files
_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """How to ingest: an optional format override, GeoIP databases, worker count, batch size."""

    hint: str | None = None
    geoip: tuple[str, ...] = ()
    jobs: int = 0  # 0: one per core
    force: bool = False  # read files again even when unchanged
    batch: int = BATCH
    parallel_min: int | None = None  # input bytes from which parser processes start (PARALLEL_MIN_BYTES)
    keep_raw: bool = False  # store every record's JSON in events.raw, keep no evidence files (--keep-raw)
    evidence: str | None = None  # the evidence directory (--evidence); None: the workspace's own

    def __post_init__(self) -> None:
        if self.hint is not None and self.hint not in FORMATS:
            raise UsageError(f"unknown --format-hint {self.hint!r}; one of: {', '.join(FORMATS)}")


@dataclass(slots=True)
class FileReport:
    """What happened to one input. status: ingested | skipped | unknown | ignored | failed."""

    path: str
    status: str = "ingested"
    format: str | None = None
    why: str = ""
    compression: str | None = None
    shape: str | None = None
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Report:
    files: list[FileReport]
    seconds: float
    keys_joined: int = 0  # events given an inventory key's fingerprint by the id they name (key_aliases)

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    def totals(self) -> dict[str, int]:
        """Records read/stored/duplicates/quarantined, and files by status (files_ingested, ...)."""
        totals = {k: self.total(k) for k in ("read", "stored", "duplicates", "quarantined")}
        for f in self.files:
            key = f"files_{f.status}"
            totals[key] = totals.get(key, 0) + 1
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [f.to_dict() for f in self.files],
            "totals": self.totals(),
            "seconds": round(self.seconds, 3),
            "keys_joined": self.keys_joined,
        }


def expand(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[Path, bool]]:
    """(resolved file, named explicitly) for every input: files, directories (recursively, hidden entries
    skipped) and glob patterns. A path that matches nothing raises InputError."""
    out: list[tuple[Path, bool]] = []
    seen: set[Path] = set()

    def add(p: Path, explicit: bool) -> None:
        key = p.resolve() if explicit else p  # walked files come resolved
        if key not in seen:
            seen.add(key)
            out.append((key, explicit))

    missing: list[str] = []
    for raw in paths:
        s = os.fspath(raw)
        p = Path(s)
        if p.is_file():
            add(p, True)
        elif p.is_dir():
            for f in _walk(p):
                add(f, False)
        elif _GLOB & set(s):
            hits = sorted(glob.glob(s, recursive=True))
            if not hits:
                missing.append(s)
            for h in hits:
                hp = Path(h)
                if hp.is_file():
                    add(hp, True)
                elif hp.is_dir():
                    for f in _walk(hp):
                        add(f, False)
        else:
            missing.append(s)
    if missing:
        raise InputError("no such file, directory or matching glob: " + ", ".join(missing))
    return out


def _walk(root: Path) -> Iterator[Path]:
    """Every file under ``root`` (hidden entries skipped, symlinked directories not followed),
    resolved, in sorted order. The directory is resolved once, not each of its files: a tree of
    CloudTrail objects holds tens of thousands, and ``Path.resolve`` costs ~70 µs each."""
    stack = [str(root.resolve())]
    while stack:
        top = stack.pop()
        try:
            entries = sorted(os.scandir(top), key=lambda e: e.name)
        except OSError:
            continue
        dirs: list[str] = []
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                if not e.is_symlink():
                    dirs.append(e.path)
            elif e.is_symlink():
                yield Path(e.path).resolve()
            else:
                yield Path(e.path)
        stack.extend(reversed(dirs))


def _workspace_files(con: duckdb.DuckDBPyConnection) -> set[Path]:
    """The workspace's own files, never read as input (a directory may hold them)."""
    out: set[Path] = set()
    for row in con.execute("SELECT path FROM duckdb_databases() WHERE path IS NOT NULL").fetchall():
        f = Path(str(row[0])).resolve()
        out.update({f, f.with_name(f.name + ".wal")})
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str | os.PathLike[str]],
    cfg: IngestConfig | None = None,
    *,
    stdin: bytes | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    walked: bool = False,
) -> Report:
    """Ingest every input into the workspace behind ``con``; report per file, in input order.

    ``walked``: the files count as found in a directory (``watch`` names each file it found), so one
    in no known format is ignored, not quarantined.

    Afterwards the events that name one of the owner's keys by an id (``scan --inventory`` stored
    the ids) get that key's fingerprint, so a leak joins its abuse whether scan or ingest ran first.
    """
    cfg = cfg or IngestConfig()
    with guarded(con, "ingest"):
        before = last_event(con)
        evidence = None if cfg.keep_raw else store_dir(con, cfg.evidence)
        store = Store(
            con,
            rows=GROUP_BATCHES * cfg.batch,
            keep_raw=evidence is None,
            evidence=None if evidence is None else str(evidence),
        )
        try:
            report = _ingest(con, store, paths, cfg, stdin, on_file, walked)
            store.close()
        except MemoryError as e:
            store.abandon()
            raise ResourceError(
                "out of memory while ingesting: what was committed is kept; free memory (or use fewer "
                "parser processes, -j) and run ingest again to complete it",
                source=path_of(con),
            ) from e
        except BaseException:
            store.abandon()  # the queued rows are dropped: a rerun reads their files again
            raise
        report.keys_joined = fill_key_fingerprints(con, since=before).joined
        return report


def _ingest(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    paths: Sequence[str | os.PathLike[str]],
    cfg: IngestConfig,
    stdin: bytes | None,
    on_file: Callable[[FileReport], None] | None,
    walked: bool = False,
) -> Report:
    started = time.monotonic()
    own = _workspace_files(con)
    files = [(p, named and not walked) for p, named in expand(paths) if p not in own]
    reports: list[FileReport] = []
    tasks: list[Task] = []
    explicit: dict[int, bool] = {}
    common = {"hint": cfg.hint, "geoip": cfg.geoip, "batch": cfg.batch, "evidence": store.evidence}
    if stdin is not None:
        reports.append(FileReport("-"))
        tasks.append(Task(key=0, name="-", data=stdin, **common))  # type: ignore[arg-type]
        explicit[0] = True
    sizes: dict[int, int] = {0: len(stdin)} if stdin is not None else {}
    known_files = {} if cfg.force else store.known_all()
    for path, named in files:
        name = str(path)
        rep = FileReport(name)
        key = len(reports)
        reports.append(rep)
        try:
            size = path.stat().st_size
            known = known_files.get(name)
            if (
                known is not None
                and known.size == size
                and (cfg.hint is None or cfg.hint == known.format)
                and known.sha256 == _sha256(path)
            ):
                rep.status, rep.format, rep.why = "skipped", known.format, "unchanged since last ingest"
                if on_file:
                    on_file(rep)
                continue
        except OSError as e:
            rep.status, rep.why = "failed", f"cannot read: {e.strerror or e}"
            if on_file:
                on_file(rep)
            continue
        sizes[key] = size
        explicit[key] = named
        tasks.append(Task(key=key, name=name, path=name, **common))  # type: ignore[arg-type]

    jobs = cfg.jobs or os.cpu_count() or 1
    bundles = _bundles(tasks, sizes)
    messages: Generator[Message, None, None]
    if (
        jobs > 1
        and len(bundles) > 1
        and sum(sizes.values()) >= (PARALLEL_MIN_BYTES if cfg.parallel_min is None else cfg.parallel_min)
    ):
        messages = _parallel(bundles, min(jobs, len(bundles)))
    else:
        messages = (m for b in bundles for m in run_bundle(b))

    def done(rep: FileReport) -> Callable[[], None]:
        return lambda: on_file(rep) if on_file else None

    with contextlib.closing(messages):  # a failure stops (and reaps) the parser processes now
        for msg in messages:
            if isinstance(msg, Batch):
                refs: dict[int, FileRef] = {}
                for key, n in msg.read.items():
                    rep = reports[key]
                    rep.read += n
                    refs[key] = (rep.format, rep.path, rep)
                store.write(msg.table, msg.bad, refs)
                continue
            rep = reports[msg.key]
            if isinstance(msg, Start):
                rep.format, rep.why, rep.compression, rep.shape = (
                    msg.format,
                    msg.why,
                    msg.compression,
                    msg.shape,
                )
                rep.notes.extend(msg.notes)
                sizes[msg.key] = msg.size
                store.begin_file(rep.path)
                store.cite(rep.path, msg.sha256, msg.size)
                if msg.format is None:
                    rep.status = "unknown" if explicit[msg.key] else "ignored"
                    if explicit[msg.key]:
                        store.quarantine_file(rep.path, f"unknown format: {msg.why}", msg.head, rep)
            elif isinstance(msg, End):
                rep.notes.extend(msg.notes)
                if rep.status == "ingested" and rep.format and rep.path != "-":
                    store.finish_file(rep.path, msg.sha256, sizes[msg.key], rep.format, rep)
                if on_file:
                    store.after(done(rep))
            elif isinstance(msg, Failed):
                if msg.resource:  # the machine refused: nothing more can be parsed or written
                    raise ResourceError(msg.message)
                rep.status, rep.why = "failed", msg.message
                if on_file:
                    store.after(done(rep))
    store.flush()
    return Report(reports, time.monotonic() - started)


def _bundles(tasks: list[Task], sizes: dict[int, int]) -> list[list[Task]]:
    """Tasks in input order, cut into bundles of about BUNDLE_BYTES: many small files travel and
    are parsed together; a big file goes alone."""
    out: list[list[Task]] = []
    current: list[Task] = []
    nbytes = 0
    for t in tasks:
        size = sizes.get(t.key, 0)
        if current and (nbytes + size > BUNDLE_BYTES or len(current) >= BUNDLE_FILES):
            out.append(current)
            current, nbytes = [], 0
        current.append(t)
        nbytes += size
    if current:
        out.append(current)
    return out


def _parallel(bundles: list[list[Task]], workers: int) -> Generator[Message, None, None]:
    """Messages from ``workers`` spawned processes, each taking bundles from a shared queue."""
    ctx = mp.get_context("spawn")
    todo: mp.Queue[list[Task] | None] = ctx.Queue()
    results: mp.Queue[list[Message] | None] = ctx.Queue(maxsize=workers + 1)  # bounds batches in flight
    for b in bundles:
        todo.put(b)
    for _ in range(workers):
        todo.put(None)
    spool = tempfile.mkdtemp(prefix="ringbreaker-ingest-")
    me = os.getpid()
    procs = [ctx.Process(target=worker, args=(todo, results, spool, me), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    done = 0
    unfinished = {t.key for b in bundles for t in b}  # files without End or Failed yet
    try:
        while done < workers:
            try:
                got = results.get(timeout=1.0)
            except queue.Empty:
                if all(not p.is_alive() for p in procs):
                    break
                continue
            if got is None:
                done += 1
                continue
            for msg in got:
                if isinstance(msg, End | Failed):
                    unfinished.discard(msg.key)
                yield unspill(msg) if isinstance(msg, Batch) else msg
        for key in sorted(unfinished):
            yield Failed(key, "worker process died")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        # never wait at exit for a queue's feeder thread: with its readers gone, it would block
        # forever writing bundles no worker will take (the hang after a failed run)
        for q in (todo, results):
            q.cancel_join_thread()
            q.close()
        shutil.rmtree(spool, ignore_errors=True)
