"""Run a scan: sources → matcher → findings, on every core.

The main process enumerates work (files, git blobs, stdin) and turns matches into
:class:`~ringbreaker.model.Finding`; worker processes read, expand and match. Each worker compiles
the Hyperscan database once. Small scans run inline, where a pool would cost more than it saves.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import multiprocessing
import multiprocessing.util
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ringbreaker.errors import InputError
from ringbreaker.model import Confidence, Finding, fingerprint
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import git
from ringbreaker.scan.matcher import Engine, find, make_engine
from ringbreaker.scan.redact import preview
from ringbreaker.scan.sources import (
    Piece,
    ScanConfig,
    Stats,
    _archive_kind,
    expand,
    read_file,
    special_kind,
    walk,
)

INLINE_UNITS = 64  # below this many units a worker pool costs more than it saves
BATCH_BYTES = 8 << 20
BATCH_FILES = 256


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a unit came from: leak time and, for git history, the introducing commit."""

    time: str | None = None
    commit: str | None = None
    author: str | None = None
    email: str | None = None
    author_date: str | None = None
    repo: str | None = None

    def __reduce__(self) -> tuple[type[Origin], tuple[str | None, ...]]:
        # A plain tuple pickles in C; a slotted dataclass's own state is built in Python, field by
        # field: ~25% of the main process's time in a history scan went to sending units.
        return Origin, (self.time, self.commit, self.author, self.email, self.author_date, self.repo)


@dataclass(frozen=True, slots=True)
class Hit:
    """A confirmed match, as a worker reports it (the secret travels only between processes)."""

    rule: str
    value: str
    path: str
    line: int
    column: int
    cell: int | None
    paired: bool
    allowed: bool
    origin: Origin
    resource: str | None = None
    companion: str | None = None  # the paired part (AWS secret), for --verify only
    blob: str | None = None  # the git object it was found in, and the unit path it was read under:
    unit: str | None = None  # a history blob's hits are attributed once the log walk has ended


@dataclass(frozen=True, slots=True)
class Unit:
    """One piece of work: a file or a git object to read in the worker, or bytes already read (stdin).

    ``blob``: a git object name (or ``:path`` index entry) the worker reads from ``origin.repo``
    itself, so blob contents never travel through the process that enumerates the history;
    ``size``: its size when known, to split work by bytes.
    """

    path: str
    data: bytes | None = None  # None: read ``path`` from disk, or ``blob`` from git
    origin: Origin = Origin()
    blob: str | None = None
    size: int = 0

    def __reduce__(self) -> tuple[type[Unit], tuple[object, ...]]:
        return Unit, (self.path, self.data, self.origin, self.blob, self.size)  # see Origin.__reduce__


_worker: tuple[Sequence[SecretRule], Engine, ScanConfig] | None = None
_readers: dict[str, git.BlobReader] = {}  # this process's cat-file per repository


def _init(rules: Sequence[SecretRule], cfg: ScanConfig) -> None:
    global _worker
    _worker = (rules, make_engine(rules, cfg.engine), cfg)
    if multiprocessing.parent_process() is not None:  # a pool worker: end its git readers with it
        multiprocessing.util.Finalize(None, _close_readers, exitpriority=10)


def _close_readers() -> None:
    while _readers:
        _readers.popitem()[1].close()


def _reader(repo: str) -> git.BlobReader:
    reader = _readers.get(repo)
    if reader is None:
        reader = _readers[repo] = git.BlobReader(Path(repo))
    return reader


def _read_blob(unit: Unit, cfg: ScanConfig, stats: Stats) -> bytes | None:
    """The next answer of the unit's repository reader (asked for by :func:`_scan_units`): the
    blob's bytes, or None when it is too large (counted) or missing (reported)."""
    assert unit.origin.repo is not None
    data, size = _reader(unit.origin.repo).answer(cfg.max_file_size)
    if data is None:
        if size > cfg.max_file_size:
            stats.skipped_large += 1
        else:
            at = f"@{unit.origin.commit[:12]}" if unit.origin.commit else ""
            stats.error(f"{unit.path}{at}", f"object {unit.blob} missing from the object store; skipped")
    return data


def _match_pieces(pieces: Iterable[Piece], origin: Origin, out: list[Hit], unit: Unit | None = None) -> None:
    assert _worker is not None
    rules, engine, _ = _worker
    for piece in pieces:
        for m in find(rules, engine, piece.data):
            out.append(
                Hit(
                    rules[m.rule].id,
                    m.value.decode("utf-8", "replace"),
                    piece.path,
                    m.line,
                    m.column,
                    piece.cell,
                    m.paired,
                    m.allowed,
                    origin,
                    m.resource,
                    None if m.companion is None else m.companion.decode("utf-8", "replace"),
                    None if unit is None else unit.blob,
                    None if unit is None else unit.path,
                )
            )


def _mtime(path: str) -> str | None:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC).isoformat(timespec="seconds")
    except OSError:
        return None


def _scan_units(units: list[Unit]) -> tuple[list[Hit], Stats]:
    assert _worker is not None
    _, _, cfg = _worker
    stats = Stats()
    hits: list[Hit] = []
    wanted: dict[str, list[str]] = {}  # ask git for the batch's blobs up front: it reads ahead
    for unit in units:
        if unit.blob is not None and unit.origin.repo is not None:
            wanted.setdefault(unit.origin.repo, []).append(unit.blob)
    for repo, names in wanted.items():
        _reader(repo).ask(names)
    for unit in units:
        if unit.data is None and unit.blob is None:
            before = len(hits)
            _match_pieces(read_file(unit.path, unit.path, cfg, stats), unit.origin, hits)
            if len(hits) > before:  # leak time of a plain file: its modification time
                t = Origin(time=_mtime(unit.path))
                hits[before:] = [replace(h, origin=t) for h in hits[before:]]
        else:
            data = unit.data if unit.blob is None else _read_blob(unit, cfg, stats)
            if data is None:
                continue
            stats.blobs += 1
            stats.bytes += len(data)
            _match_pieces(expand(unit.path, data, cfg, stats, 0), unit.origin, hits, unit)
    return hits, stats


def _batches(units: Iterable[Unit]) -> Iterator[list[Unit]]:
    batch: list[Unit] = []
    size = 0
    for u in units:
        batch.append(u)
        size += len(u.data) if u.data is not None else u.size or 64 << 10
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def run_units(
    rules: Sequence[SecretRule],
    cfg: ScanConfig,
    units: Iterable[Unit],
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[Hit], Stats]:
    """Scan work units on ``cfg.jobs`` processes (inline when small); bounded memory in flight.

    ``units`` may be a stream (git history as the log is read): it is consumed as batches are
    sent, and whether a pool is worth starting is decided on its first ``INLINE_UNITS`` units."""
    jobs = cfg.jobs or os.cpu_count() or 1
    stats = Stats()
    hits: list[Hit] = []
    stream = iter(units)
    head = list(itertools.islice(stream, INLINE_UNITS))
    units = itertools.chain(head, stream)
    if jobs == 1 or len(head) < INLINE_UNITS:
        _init(rules, cfg)
        try:
            for batch in _batches(units):
                h, s = _scan_units(batch)
                hits.extend(h)
                stats.merge(s)
                if on_progress:
                    on_progress(len(batch))
        finally:
            _close_readers()
        return hits, stats
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if isinstance(ctx, multiprocessing.context.ForkServerContext):
        # Workers fork from a server that has imported only the scanner, not the CLI's __main__.
        ctx.set_forkserver_preload(["ringbreaker.scan.scanner"])
    with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init, initargs=(rules, cfg)) as pool:
        pending: dict[cf.Future[tuple[list[Hit], Stats]], int] = {}

        def collect(f: cf.Future[tuple[list[Hit], Stats]]) -> None:
            n = pending.pop(f)  # always: a finished batch must leave the in-flight set exactly once
            h, s = f.result()
            hits.extend(h)
            stats.merge(s)
            if on_progress:
                on_progress(n)

        batches = _batches(units)
        for batch in batches:
            pending[pool.submit(_scan_units, batch)] = len(batch)
            if len(pending) >= 2 * jobs:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    collect(f)
        for f in cf.as_completed(list(pending)):
            collect(f)
    return hits, stats


# --------------------------------------------------------------------------- unit enumeration


def file_units(paths: Sequence[Path], cfg: ScanConfig, stats: Stats) -> list[Unit]:
    units: list[Unit] = []
    for root in paths:
        try:
            mode = root.stat().st_mode
        except FileNotFoundError:
            raise InputError("no such file or directory", source=str(root)) from None
        except OSError as e:
            raise InputError(f"cannot stat: {e.strerror or e}", source=str(root)) from None
        kind = special_kind(mode)
        if kind:  # reading it would hang (FIFO) or never end (device): refuse, as the user named it
            raise InputError(
                f"is {kind}, not a file or directory; pipe a stream to '-' instead", source=str(root)
            )
        units.extend(Unit(p) for p in walk(root, cfg, stats))
    return units


def staged_units(paths: Sequence[Path], cfg: ScanConfig, stats: Stats) -> Iterator[Unit]:
    """The staged (index) version of every added or modified file: what pre-commit should see."""
    for root in paths or [Path(".")]:
        top = git.toplevel(root)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for name in git.staged_paths(top):
            yield Unit(os.path.relpath(top / name), origin=Origin(time=now, repo=str(top)), blob=f":{name}")


def stdin_units(data: bytes | None = None) -> list[Unit]:
    """Standard input as one unit: ``data`` if given (already read), else read now."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [Unit("<stdin>", sys.stdin.buffer.read() if data is None else data, Origin(time=now))]


STREAM_CHUNK = 1 << 20
_TAIL = 4096  # a chunk with no newline: bytes carried into the next so no key is cut in two


def stream_chunks(
    stream: BinaryIO, cfg: ScanConfig, stats: Stats, window: int, chunk: int = STREAM_CHUNK
) -> Iterator[tuple[bytes, int, int]]:
    """A stream (stdin) as overlapping chunks of whole lines: (chunk, the line number before it,
    bytes of the stream read for it).

    Memory stays at about one chunk whatever the stream's length. Each chunk starts with the last
    ``window`` + 1 lines of the one before, so a key whose provider is named a few lines earlier
    (a context-gated rule) or whose pair sits on the previous line is still seen whole; the
    caller drops the repeats (same finding id). An archive (gzip, zip, xz, tar) cannot be read in
    pieces: it is read whole, as a file would be. Past ``cfg.max_file_size`` bytes the rest is
    not read, counted and reported.
    """
    read = getattr(stream, "read1", stream.read)  # what the pipe has now: findings print as they come
    first = read(chunk)
    limit = cfg.max_file_size
    if _archive_kind("<stdin>", first):
        data = first + (stream.read(limit + 1 - len(first)) if len(first) <= limit else b"")  # whole
        if len(data) > limit:
            stats.skipped_large += 1
            stats.error("<stdin>", f"an archive larger than --max-file-size ({limit:,} bytes); skipped")
            return
        yield data, 0, len(data)
        return
    carry, line, total, data, truncated, unread = b"", 0, 0, first, False, 0
    rest = b""
    while data:
        if total + len(data) > limit:
            data, truncated = data[: limit - total], True
        total += len(data)
        unread += len(data)
        buf = carry + data
        cut = buf.rfind(b"\n") + 1 or max(len(buf) - _TAIL, 0)  # no newline: cut one long line
        body, rest = buf[:cut], buf[cut:]
        if body:
            yield body, line, unread
            unread = 0
            start = len(body)
            for _ in range(window + 2):  # back to the start of the last window + 1 whole lines
                start = body.rfind(b"\n", 0, start - 1) + 1 if start > 0 else 0
                if start == 0:
                    break
            overlap = body[start:] if body.endswith(b"\n") else body[-_TAIL:]
            line += body.count(b"\n") - overlap.count(b"\n")
            carry = overlap + rest
        else:
            carry = buf
        data = b"" if truncated else read(chunk)
    if rest or unread:  # the last line had no newline (or all of it was one short line)
        yield carry, line, unread
    if truncated:
        stats.skipped_large += 1
        stats.error("<stdin>", f"longer than --max-file-size ({limit:,} bytes); the rest was not scanned")


def stream_hits(
    rules: Sequence[SecretRule], cfg: ScanConfig, stream: BinaryIO, stats: Stats
) -> Iterator[list[Hit]]:
    """Scan a stream chunk by chunk in this process (one engine, compiled once); each chunk's hits
    with stream line numbers, as soon as the chunk is scanned."""
    window = max((max(r.window_lines, r.companion_lines, r.resource_lines) for r in rules), default=0)
    origin = Origin(time=datetime.now(UTC).isoformat(timespec="seconds"))
    _init(rules, cfg)
    for i, (data, line, read) in enumerate(stream_chunks(stream, cfg, stats, window, STREAM_CHUNK)):
        hits, s = _scan_units([Unit("<stdin>", data, origin)])
        s.blobs, s.bytes = int(i == 0), read  # one input, its bytes once (overlaps are rescanned)
        stats.merge(s)
        yield [replace(h, line=h.line + line) if h.cell is None else h for h in hits]


# --------------------------------------------------------------------------- findings


def finding_id(rule: str, fp: str, path: str) -> str:
    """Stable across runs and edits: rule, fingerprint and path, never the line."""
    return hashlib.sha256(f"{rule}\0{fp}\0{path}".encode("utf-8", "surrogateescape")).hexdigest()[:24]


def to_findings(
    rules: Sequence[SecretRule], hits: Iterable[Hit], stats: Stats, owned: frozenset[str] = frozenset()
) -> list[Finding]:
    """Build findings from hits: drop inline-allowed ones, keep the earliest of duplicates (the
    introducing commit), mark the owner's keys, sort by location."""
    by_id = {r.id: r for r in rules}
    best: dict[str, Finding] = {}
    for h in hits:
        if h.allowed:
            stats.suppressed_inline += 1
            continue
        rule = by_id[h.rule]
        fp = fingerprint(h.value)
        fid = finding_id(rule.id, fp, h.path)
        f = Finding(
            id=fid,
            rule=rule.id,
            provider=rule.provider,
            title=rule.title,
            fingerprint=fp,
            preview=preview(h.value),
            length=len(h.value),
            path=h.path,
            line=h.line,
            column=h.column,
            confidence=Confidence.HIGH if h.paired else Confidence(rule.confidence),
            time=h.origin.time,
            commit=h.origin.commit,
            author=h.origin.author,
            author_email=h.origin.email,
            author_date=h.origin.author_date,
            repo=h.origin.repo,
            cell=h.cell,
            owned=fp in owned,
            paired=h.paired,
            resource=h.resource,
            secret=h.value,
            companion=h.companion,
        )
        old = best.get(fid)
        if old is None or _earlier(f, old):
            best[fid] = f
    return sorted(best.values(), key=lambda f: (f.path, f.cell or 0, f.line, f.column, f.rule))


def _earlier(a: Finding, b: Finding) -> bool:
    if a.time and b.time and a.time != b.time:
        return a.time < b.time
    return (a.cell or 0, a.line, a.column) < (b.cell or 0, b.line, b.column)
