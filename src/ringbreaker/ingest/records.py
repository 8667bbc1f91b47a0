"""An event's original record, read back from the evidence store and checked (``ringbreaker show``).

An event cites its record by the SHA-256 of the source file and the record's position
(``source_offset``: a 1-based line number for NDJSON and CSV, a 0-based record index otherwise, a
row number in Parquet). Reading it back runs the same readers ingest ran over the same bytes: the
blob is hashed and compared with its name, decompressed, split into records, and the record at the
position is mapped by its format's parser once more, whose id must be the event's. Two checks, so
what is shown is both the file that was ingested and the record in it the event came from (one line
of an NDJSON ``Records`` envelope holds many records at one position: the id picks the one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import EvidenceError, InputError
from ringbreaker.ingest.columns import canonical_id
from ringbreaker.ingest.detect import FORMATS
from ringbreaker.ingest.formats._parquet import Blocks, is_parquet
from ringbreaker.ingest.readers import decompress, split, split_lines
from ringbreaker.workspace.evidence import EvidenceStore, has_citations

if TYPE_CHECKING:
    import duckdb

__all__ = ["Record", "read_record"]


@dataclass(frozen=True, slots=True)
class Record:
    """One event's record and where it was read from.

    ``origin``: ``evidence`` (read from the evidence file and verified: ``verified`` is true) or
    ``workspace`` (the JSON kept in ``events.raw``: a --keep-raw ingest, or one before evidence was
    kept; nothing to verify it against)."""

    event_id: str
    source_file: str
    source_format: str
    source_offset: int | None
    source_sha256: str | None
    origin: str
    verified: bool
    evidence_file: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        import json

        try:
            record: Any = json.loads(self.text)
        except ValueError:
            record = None
        return {
            "id": self.event_id,
            "source_file": self.source_file,
            "source_format": self.source_format,
            "source_offset": self.source_offset,
            "source_sha256": self.source_sha256,
            "origin": self.origin,
            "verified": self.verified,
            "evidence_file": self.evidence_file,
            "record": record,
            "text": self.text,
        }


Blobs = dict[str, dict[int, list[tuple[Any, int]]]]  # sha256 -> position -> the records there


def read_record(con: duckdb.DuckDBPyConnection, event_id: str, cache: Blobs | None = None) -> Record:
    """The original record of event ``event_id``. InputError when the workspace has no such event;
    EvidenceError (naming the file) when its evidence file is missing, changed, or no longer holds
    the record at its position. ``cache``: blobs already read and split, by hash, for a caller
    reading many events of few files (an alert's evidence): each file is hashed and split once."""
    cited = has_citations(con)  # a workspace opened read-only before migration 13 has none
    row = con.execute(
        "SELECT source_format, source_file, source_offset, "
        + ("source_sha256" if cited else "NULL")
        + ", raw FROM events WHERE id = ?",
        [event_id],
    ).fetchone()
    if row is None:
        raise InputError(f"no event with id {event_id!r} in this workspace")
    fmt, name, offset, sha, raw = str(row[0]), str(row[1]), row[2], row[3], row[4]
    offset = None if offset is None else int(offset)
    kept = None
    if sha is not None:
        kept = con.execute(
            "SELECT line_base, store FROM evidence WHERE sha256 = ? AND source_file = ?", [sha, name]
        ).fetchone()
    if kept is None:
        if raw is None:
            raise EvidenceError(
                f"event {event_id} cites no evidence file this workspace kept, and holds no raw record",
                source=name,
            )
        return Record(event_id, name, fmt, offset, sha, "workspace", False, None, str(raw))
    store = EvidenceStore(str(kept[1]))
    blob = store.blob(str(sha))
    if offset is None:
        raise EvidenceError(f"event {event_id} has no position in its evidence file", source=str(blob))
    at = cache.get(str(sha)) if cache is not None else None
    if at is None:
        at = _positions(store.read(str(sha)))  # EvidenceError: missing, or not what was ingested
        if cache is not None:
            cache[str(sha)] = at
    text = _find(at.get(offset - int(kept[0]), []), fmt, event_id)
    if text is None:
        raise EvidenceError(
            f"no record at position {offset} of this evidence file maps to event {event_id}", source=str(blob)
        )
    return Record(event_id, name, fmt, offset, str(sha), "evidence", True, str(blob), text)


def _find(candidates: list[tuple[Any, int]], fmt: str, event_id: str) -> str | None:
    """The text of the candidate record whose id (as ingest computes it) is ``event_id``."""
    if fmt not in FORMATS:
        return None
    parse = FORMATS[fmt].parse
    for raw, off in candidates:
        parsed = parse([raw], [off])
        if not parsed.count:
            continue
        rids = parsed.columns.get("rid")
        rid = rids[0] if rids is not None else None
        if rid is None:
            rid = canonical_id(parsed.columns["raw"][0])
        if hashlib.md5(f"{fmt}\x1f{rid}".encode()).hexdigest() == event_id:
            return bytes(raw).decode("utf-8", "replace")
    return None


def _positions(data: bytes) -> dict[int, list[tuple[Any, int]]]:
    """Every record of a blob by the position the readers give it (usually one a position), as
    ingest read them: the same decompression, container split and Parquet blocks."""
    out: dict[int, list[tuple[Any, int]]] = {}
    if is_parquet(data):
        row = 0
        for block in Blocks(data).blocks():
            c = split_lines(block, False, row)
            for r, o in zip(c.raws, c.offsets, strict=True):
                out.setdefault(o, []).append((bytes(r), o))
            row += len(c.raws) + len(c.broken)
        return out
    dec = decompress(data)
    c = split(dec.data, truncated=dec.truncated_at is not None)
    for r, o in zip(c.raws, c.offsets, strict=True):
        out.setdefault(o, []).append((r, o))
    return out
