"""One file to batches: read, decompress, split, detect, parse, enrich. Runs in worker processes.

The worker yields messages (Start, Batch, End); the single writer stores them. Nothing here touches
the workspace, so any number of workers can run side by side.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ringbreaker.ingest.columns import Bad, canonical_id, text, to_table
from ringbreaker.ingest.detect import FORMATS, detect
from ringbreaker.ingest.formats import Chunk, no_gc, parser
from ringbreaker.ingest.readers import decompress, split

BATCH = 65_536
SPILL_BYTES = 8 << 20  # a worker's batch at least this big goes to the writer through a file


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


@dataclass(slots=True)
class Start:
    key: int
    format: str | None
    why: str
    compression: str
    shape: str
    sha256: str
    size: int
    head: str = ""  # the file's first bytes, for a whole-file quarantine row when the format is unknown
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    key: int
    table: pa.Table | None
    bad: list[Bad]
    read: int
    spilled: str | None = None  # from a worker: the table is in this Arrow IPC file (see ``worker``)


@dataclass(slots=True)
class End:
    key: int


@dataclass(slots=True)
class Failed:
    key: int
    message: str


Message = Start | Batch | End | Failed


def run(task: Task) -> Iterator[Message]:
    """Every message for one task; an unreadable file yields Failed instead of raising."""
    try:
        yield from _run(task)
    except OSError as e:
        yield Failed(task.key, f"cannot read: {e.strerror or e}")


def _run(task: Task) -> Iterator[Message]:
    if task.data is not None:
        blob = task.data
    else:
        assert task.path is not None
        blob = Path(task.path).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    dec = decompress(blob)
    size = len(blob)
    del blob
    container = split(dec.data, truncated=dec.truncated_at is not None)
    notes = list(container.notes)
    truncation: list[Bad] = []
    if dec.truncated_at is not None:
        what = f"truncated {dec.compression} at byte {dec.truncated_at}"
        notes.append(f"{what}: kept what was readable")
        truncation.append(Bad(dec.truncated_at, what, ""))
    if task.hint:
        fmt: str | None = task.hint
        why = "--format-hint"
    else:
        fmt, why = detect(container.raws)
    head = text(dec.data[:4096]) if fmt is None else ""
    yield Start(task.key, fmt, why, dec.compression, container.shape, digest, size, head, notes)
    broken = [Bad(off, reason, text(raw)) for off, reason, raw in container.broken] + truncation
    if fmt is None:
        if broken:
            yield Batch(task.key, None, broken, len(container.broken))
        yield End(task.key)
        return
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    parse = parser(fmt)
    enricher = None
    if task.geoip:
        from ringbreaker.ingest.geoip import GeoIP

        enricher = GeoIP(task.geoip)
    raws, offsets = container.raws, container.offsets
    total = len(raws)
    if total == 0 or broken:
        yield Batch(task.key, None, broken, len(container.broken))
    for start in range(0, total, task.batch):
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
            table = to_table(parsed.columns, parsed.count) if parsed.count else None
        if table is not None and enricher is not None:
            table = enricher.enrich(table)
        yield Batch(task.key, table, parsed.bad, len(chunk))
    if enricher is not None:
        enricher.close()
    yield End(task.key)


def spill(msg: Batch, spool: str, n: int) -> Batch:
    """The batch with its table written to an Arrow IPC file under ``spool`` instead: the writer
    memory-maps it (``unspill``) rather than receiving ~100 MB pickled through a pipe, copied four
    times on the way."""
    assert msg.table is not None
    path = os.path.join(spool, f"{os.getpid()}-{n}.arrow")
    with pa.OSFile(path, "wb") as f, pa.ipc.new_file(f, msg.table.schema) as w:
        w.write_table(msg.table)
    return Batch(msg.key, None, msg.bad, msg.read, path)


def unspill(msg: Batch) -> Batch:
    """A spilled batch back with its table (memory-mapped; the file is removed at once)."""
    if msg.spilled is None:
        return msg
    try:
        with pa.memory_map(msg.spilled) as source:
            table = pa.ipc.open_file(source).read_all()
    finally:
        os.unlink(msg.spilled)
    return Batch(msg.key, table, msg.bad, msg.read)


def worker(  # pragma: no cover - runs in a child process
    tasks: object, results: object, spool: str | None = None
) -> None:
    """Process entry point: take tasks until None, put every message on ``results`` (batches with
    a table spilled to a file under ``spool``, when given)."""
    from multiprocessing.queues import Queue

    assert isinstance(tasks, Queue)
    assert isinstance(results, Queue)
    n = 0
    while True:
        task = tasks.get()
        if task is None:
            break
        try:
            for msg in run(task):
                if (
                    spool is not None
                    and isinstance(msg, Batch)
                    and msg.table is not None
                    and msg.table.nbytes >= SPILL_BYTES
                ):
                    n += 1
                    results.put(spill(msg, spool, n))
                else:
                    results.put(msg)
        except Exception as e:
            results.put(Failed(task.key, f"{type(e).__name__}: {e}"))
        sys.stdout.flush()
    results.put(None)
