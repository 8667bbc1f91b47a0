"""Files to batches: read, decompress, split, detect, parse, enrich. Runs in worker processes.

A worker takes a bundle of files (one big file, or many small ones) and yields messages: Start per
file, Batch per ~``batch`` records (the rows of one or many files, each row tagged with its file's
key), End per file after the batch holding its last rows. Building one Arrow table for the rows of
many small files, rather than one a file, is what makes a tree of thousands of small CloudTrail
objects cheap: the per-table cost (~0.3 ms) was worth ~8 µs per record at 37 records a file.
Nothing here touches the workspace, so any number of workers can run side by side.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from ringbreaker.ingest.columns import Bad, canonical_id, text, to_table
from ringbreaker.ingest.detect import FORMATS, sniff
from ringbreaker.ingest.formats import Chunk, no_gc
from ringbreaker.ingest.formats._parquet import Blocks, is_parquet
from ringbreaker.ingest.readers import Container, Decoded, Stream, decompress, split, split_lines
from ringbreaker.workspace.evidence import EvidenceStore, sha256_file

BATCH = 32_768  # records a worker puts in one table (each of the two workers holds one or two)
SPILL_BYTES = 8 << 20  # a worker's batch at least this big goes to the writer through a file
STREAM_BYTES = 64 << 20  # a file bigger than this on disk is read block by block (see _run_stream)
STREAM_BLOCK = 16 << 20  # decompressed bytes a block


# What a parser, decoder or table builder raises on input it did not expect, the usual shapes of a
# bug's surprise included. Caught per file, so one surprising file is reported as failed on its own
# and the rest of its bundle is stored; MemoryError and KeyboardInterrupt are not in it and stop the run.
FILE_FAULTS: tuple[type[Exception], ...] = (
    ValueError,  # UnicodeError, json and msgspec decode errors, ArrowInvalid
    TypeError,
    LookupError,  # KeyError, IndexError
    AttributeError,
    ArithmeticError,
    RuntimeError,  # RecursionError
    msgspec.MsgspecError,
    pa.ArrowException,
)


@dataclass(frozen=True, slots=True)
class Task:
    """One input: a file path, or bytes already read (stdin)."""

    key: int
    name: str  # as stored in source_file: the absolute path, or '-' for stdin
    path: str | None = None
    data: bytes | None = None
    hint: str | None = None
    geoip: tuple[str, ...] = ()
    batch: int = BATCH
    evidence: str | None = None  # the evidence store the file is kept in before it is read (None: --keep-raw)


@dataclass(slots=True)
class Start:
    key: int
    format: str | None
    why: str
    compression: str
    shape: str
    size: int
    head: str = ""  # the file's first bytes, for a whole-file quarantine row when the format is unknown
    notes: list[str] = field(default_factory=list)
    sha256: str | None = None  # of the bytes about to be read (the evidence blob's name), cited by every row


@dataclass(slots=True)
class Batch:
    """Rows of one or more files: ``table`` has a ``key`` column naming each row's file; ``bad``
    holds (key, record) for the records that could not be mapped; ``read`` counts records read per
    key."""

    table: pa.Table | None
    bad: list[tuple[int, Bad]]
    read: dict[int, int]
    spilled: str | None = None  # from a worker: the table is in this Arrow IPC file (see ``worker``)


@dataclass(slots=True)
class End:
    key: int
    sha256: str  # of the file as stored, known once it is read to the end
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Failed:
    key: int
    message: str
    resource: bool = False  # the machine refused (a full disk, no memory): the run stops, not the file


Message = Start | Batch | End | Failed


@dataclass(slots=True)
class _Part:
    """One parsed chunk of one file, not yet in a table."""

    key: int
    columns: dict[str, Any]
    count: int
    bad: list[Bad]
    read: int


def run(task: Task) -> Iterator[Message]:
    """Every message for one task; an unreadable file yields Failed instead of raising."""
    return run_bundle([task])


def run_bundle(tasks: Sequence[Task]) -> Iterator[Message]:
    """Every message for a bundle of tasks, their rows gathered into batches of about
    ``tasks[0].batch`` records. End and Failed of a file come after the batch with its last rows."""
    if not tasks:
        return
    size = tasks[0].batch
    enricher = None
    if tasks[0].geoip:
        from ringbreaker.ingest.geoip import GeoIP

        enricher = GeoIP(tasks[0].geoip)
    parts: list[_Part] = []
    rows = 0
    closing: list[Message] = []  # End/Failed waiting for the batch with the file's last rows
    # one store object a bundle, not one a file: it creates its directories once (two mkdir a file)
    stores = {e: EvidenceStore(e) for e in {t.evidence for t in tasks} if e is not None}
    try:
        for task in tasks:
            try:
                for item in _run(task, None if task.evidence is None else stores[task.evidence]):
                    if isinstance(item, _Part):
                        parts.append(item)
                        rows += item.count
                        if rows >= size:
                            yield _batch(parts, enricher)
                            parts, rows = [], 0
                            yield from closing
                            closing = []
                    elif isinstance(item, End):
                        closing.append(item)
                    else:
                        yield item
            except OSError as e:
                closing.append(Failed(task.key, f"cannot read: {e.strerror or e}"))
            except FILE_FAULTS as e:  # a bug or a parser's surprise fails this file, not the bundle
                closing.append(Failed(task.key, f"{type(e).__name__}: {e}"))
        if parts:
            yield _batch(parts, enricher)
        yield from closing
    finally:
        if enricher is not None:
            enricher.close()


def _batch(parts: list[_Part], enricher: Any) -> Batch:
    """One Batch from the parsed chunks of one or more files: columns joined, one table built."""
    read: dict[int, int] = {}
    bad: list[tuple[int, Bad]] = []
    for p in parts:
        read[p.key] = read.get(p.key, 0) + p.read
        bad.extend((p.key, b) for b in p.bad)
    full = [p for p in parts if p.count]
    if not full:
        return Batch(None, bad, read)
    n = sum(p.count for p in full)
    names: set[str] = set()
    for p in full:
        names.update(p.columns)
    columns: dict[str, Any] = {}
    with no_gc():
        for name in names:
            if len(full) == 1:
                columns[name] = full[0].columns.get(name)
                continue
            joined: list[Any] = []
            for p in full:
                v = p.columns.get(name)
                if v is None:
                    joined.extend([None] * p.count)
                else:
                    joined.extend(v)
            columns[name] = joined
        table = to_table(columns, n)
    keys = np.repeat(np.array([p.key for p in full], dtype=np.int32), [p.count for p in full])
    table = table.append_column("key", pa.array(keys))
    if enricher is not None:
        table = enricher.enrich(table)
    return Batch(table, bad, read)


def _run(task: Task, store: EvidenceStore | None) -> Iterator[Start | _Part | End]:
    """One task's messages. With an evidence store (``task.evidence``, opened as ``store``) the file
    is put there first and read back from the blob, so the rows cite exactly the bytes that were
    hashed and kept."""
    if task.data is None:
        assert task.path is not None
        with open(task.path, "rb") as f:
            head = f.read(4)
        if is_parquet(head) or os.path.getsize(task.path) > STREAM_BYTES:
            if store is not None:
                put = store.put_file(task.path)
                source, sha = str(put.path), put.sha256
            else:
                source, sha = task.path, sha256_file(task.path)
            if is_parquet(head):
                yield from _run_parquet(task, source, sha)
            else:
                yield from _run_stream(task, source, sha)
            return
        if store is not None:
            put = store.put_file(task.path, read=True)
            assert put.data is not None
            blob, digest = put.data, put.sha256
        else:
            blob = Path(task.path).read_bytes()
            digest = hashlib.sha256(blob).hexdigest()
    else:
        blob = task.data
        digest = store.put_bytes(blob).sha256 if store is not None else hashlib.sha256(blob).hexdigest()
        if is_parquet(blob):
            yield from _run_parquet(task, blob, digest)
            return
    dec = decompress(blob)
    size = len(blob)
    del blob
    yield from _records(task, dec, digest, size)


def _records(task: Task, dec: Decoded, digest: str, size: int) -> Iterator[Start | _Part | End]:
    """The messages of one whole file, decompressed."""
    container = split(dec.data, truncated=dec.truncated_at is not None)
    notes = list(container.notes)
    truncation: list[Bad] = []
    if dec.truncated_at is not None:
        what = f"truncated {dec.compression} at byte {dec.truncated_at}"
        notes.append(f"{what}: kept what was readable")
        truncation.append(Bad(dec.truncated_at, what, ""))
    fmt, why = (task.hint, "--format-hint") if task.hint else sniff(container.raws)
    head = text(dec.data[:4096]) if fmt is None else ""
    yield Start(task.key, fmt, why, dec.compression, container.shape, size, head, notes, digest)
    broken = [Bad(off, reason, text(raw)) for off, reason, raw in container.broken] + truncation
    if fmt is None:
        if broken:
            yield _Part(task.key, {}, 0, broken, len(container.broken))
        yield End(task.key, digest)
        return
    if container.raws or broken:
        yield from _parts(task, fmt, container, broken)
    else:
        yield _Part(task.key, {}, 0, [], 0)
    yield End(task.key, digest)


def _run_stream(task: Task, path: str, sha: str) -> Iterator[Start | _Part | End]:
    """A big file read block by block: NDJSON (the shape of big exports and gateway logs) is parsed
    as it streams, in bounded memory; any other shape needs the whole document, so it is gathered."""
    stream = Stream(path, STREAM_BLOCK)
    blocks = stream.blocks()
    first = next(blocks, b"")
    container = split(first, salvage=False)  # a document's first block: its shape, not its records
    if container.shape not in ("ndjson", "ndjson-records") or (container.encoding or "").startswith(
        "encoding: UTF-16"
    ):  # a document, or UTF-16 (whose blocks cannot be cut at b"\n"): read whole
        data = first + b"".join(blocks)
        yield from _records(task, Decoded(data, stream.compression, stream.truncated_at), sha, stream.size)
        return
    fmt, why = (task.hint, "--format-hint") if task.hint else sniff(container.raws)
    size = os.path.getsize(path)
    head = text(first[:4096]) if fmt is None else ""
    yield Start(
        task.key, fmt, why, stream.compression, container.shape, size, head, list(container.notes), sha
    )
    envelopes = container.shape == "ndjson-records"
    later_notes: list[str] = []
    line = 1
    block: bytes | None = first
    while block is not None:
        if line > 1:
            container = split_lines(block, envelopes, line)
            later_notes.extend(container.notes)
        line += block.count(b"\n")
        broken = [Bad(off, reason, text(raw)) for off, reason, raw in container.broken]
        if fmt is None:
            if broken:
                yield _Part(task.key, {}, 0, broken, len(container.broken))
        else:
            yield from _parts(task, fmt, container, broken)
        block = next(blocks, None)
    notes = [n for n in later_notes if n.startswith("encoding:")]
    if stream.sha256 != sha:  # hashed before it was read (--keep-raw reads the source itself)
        notes.append(
            f"the file changed while it was read: rows cite sha256 {sha}, it ended as {stream.sha256}"
        )
    if stream.truncated_at is not None:
        what = f"truncated {stream.compression} at byte {stream.truncated_at}"
        notes.append(f"{what}: kept what was readable")
        yield _Part(task.key, {}, 0, [Bad(stream.truncated_at, what, "")], 0)
    yield End(task.key, stream.sha256, notes)


def _run_parquet(task: Task, source: str | bytes, sha: str) -> Iterator[Start | _Part | End]:
    """A Parquet file (OCSF, see ``formats._parquet``): its rows as NDJSON blocks, a batch of row
    groups at a time; offsets are 0-based row numbers."""
    pq = Blocks(source)
    blocks = pq.blocks()
    block = next(blocks, b"")
    container = split_lines(block, False, 0)
    fmt, why = (task.hint, "--format-hint") if task.hint else (None, pq.why)
    if fmt is None and pq.columns:
        fmt, voted = sniff(container.raws)
        why = f"{pq.why}; {voted}"
    head = "" if fmt else pq.why
    yield Start(task.key, fmt, why, "parquet", "parquet", pq.size, head, sha256=sha)
    row = 0
    while block and fmt is not None:
        yield from _parts(task, fmt, container, [Bad(o, r, text(x)) for o, r, x in container.broken])
        row += len(container.raws) + len(container.broken)
        block = next(blocks, b"")
        container = split_lines(block, False, row)
    yield End(task.key, pq.sha256)


def _parts(task: Task, fmt: str, container: Container, broken: list[Bad]) -> Iterator[_Part]:
    """The records of one container parsed as ``fmt``, in chunks of ``task.batch``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    parse = FORMATS[fmt].parse
    raws, offsets = container.raws, container.offsets
    if broken:
        yield _Part(task.key, {}, 0, broken, len(container.broken))
    for start in range(0, len(raws), task.batch):
        chunk = raws[start : start + task.batch]
        if container.buffer is not None:
            chunk = Chunk(chunk, container.buffer)
        with no_gc():
            parsed = parse(chunk, offsets[start : start + task.batch])
            rids = parsed.columns.get("rid")
            if rids is not None and None in rids:
                raw_col = parsed.columns["raw"]
                parsed.columns["rid"] = [
                    r if r is not None else canonical_id(raw_col[i]) for i, r in enumerate(rids)
                ]
        yield _Part(task.key, parsed.columns, parsed.count, parsed.bad, len(chunk))


def spill(msg: Batch, spool: str, n: int) -> Batch:
    """The batch with its table written to an Arrow IPC file under ``spool`` instead: the writer
    memory-maps it (``unspill``) rather than receiving ~100 MB pickled through a pipe, copied four
    times on the way."""
    assert msg.table is not None
    path = os.path.join(spool, f"{os.getpid()}-{n}.arrow")
    with pa.OSFile(path, "wb") as f, pa.ipc.new_file(f, msg.table.schema) as w:
        w.write_table(msg.table)
    return Batch(None, msg.bad, msg.read, path)


def unspill(msg: Batch) -> Batch:
    """A spilled batch back with its table (memory-mapped; the file is removed at once)."""
    if msg.spilled is None:
        return msg
    try:
        with pa.memory_map(msg.spilled) as source:
            table = pa.ipc.open_file(source).read_all()
    finally:
        os.unlink(msg.spilled)
    return Batch(table, msg.bad, msg.read)


def worker(  # pragma: no cover - runs in a child process
    tasks: object, results: object, spool: str | None = None, parent: int | None = None
) -> None:
    """Process entry point: take bundles of tasks until None; put their messages on ``results`` in
    lists, each ending with a batch (spilled to a file under ``spool``, when given, if big) or with
    the bundle's last message. One queue item a batch, not one a message: the queue's bound then
    counts batches in flight, and thousands of per-file Start/End messages cost one pickle.

    ``parent``: the ingest process's pid. The worker dies with it (``die_with_parent``), and stops
    waiting on a full queue once it is gone, so a killed ingest leaves no parser running. A full disk
    or no memory here stops the run with one message (``Failed.resource``), not one per file."""
    from multiprocessing.queues import Queue

    assert isinstance(tasks, Queue)
    assert isinstance(results, Queue)
    if parent is not None:
        die_with_parent(parent)
    n = 0
    while True:
        bundle = tasks.get()
        if bundle is None:
            break
        closed: set[int] = set()
        out: list[Message] = []
        stop = False
        try:
            for msg in run_bundle(bundle):
                if isinstance(msg, End | Failed):
                    closed.add(msg.key)
                if isinstance(msg, Batch):
                    big = spool is not None and msg.table is not None and msg.table.nbytes >= SPILL_BYTES
                    if big:
                        n += 1
                    out.append(spill(msg, str(spool), n) if big else msg)
                    _put(results, out, parent)
                    out = []
                else:
                    out.append(msg)
        except (MemoryError, OSError) as e:
            why = resource_fault(e)
            if why is None:  # an OSError that is not the machine's: this bundle's files fail
                why = f"{type(e).__name__}: {e}"
                out.extend(Failed(key, why) for key in sorted({t.key for t in bundle} - closed))
            else:
                out.append(Failed(bundle[0].key, why, resource=True))
                stop = True
        except FILE_FAULTS as e:
            why = f"{type(e).__name__}: {e}"
            out.extend(Failed(key, why) for key in sorted({t.key for t in bundle} - closed))
        if out:
            _put(results, out, parent)
        sys.stdout.flush()
        if stop:
            break
    _put(results, None, parent)


def _put(results: Any, item: object, parent: int | None) -> None:  # pragma: no cover - in a child
    """Put on the bounded queue, giving up (and exiting) once the parent is gone: a worker blocked
    on a full queue whose reader was killed would otherwise wait forever."""
    while True:
        try:
            results.put(item, timeout=1.0)
            return
        except queue.Full:
            if parent is not None and os.getppid() != parent:
                os._exit(1)


def die_with_parent(parent: int) -> None:  # pragma: no cover - in a child
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG), and exit at
    once if the parent is already gone (it may have died before the request was made). Elsewhere
    only the second half applies (and ``_put``'s check of the parent)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def resource_fault(e: BaseException) -> str | None:
    """A message when ``e`` is the machine refusing (no room on disk, no memory), else None."""
    if isinstance(e, MemoryError):
        return "out of memory while parsing: give ingest more memory, or fewer parser processes (-j)"
    if isinstance(e, OSError) and e.errno in _FULL:
        where = f" ({e.filename})" if e.filename else ""
        return (
            f"no space left to write{where}: {e.strerror or e}; free space (or $TMPDIR) and run ingest again"
        )
    return None
