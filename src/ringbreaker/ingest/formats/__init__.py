"""One module per log format; each describes itself with one ``FORMAT = Format(...)``.

A ``Format`` is all the pipeline knows of a format: its name, the provider, how to recognise one of
its records (``sniff``), how to map a chunk of records into the batch columns (``parse``), and the
field map from source paths to ``events`` columns. The registry (``ringbreaker.ingest.detect``)
collects the ``FORMAT`` of every public module in this package, so adding a format is one new
module here and nothing else.

Parsing decodes the whole chunk in one msgspec call; only when that fails are records decoded one by
one, so a malformed record is quarantined with its offset and the rest of the chunk is kept.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec
import numpy as np

from ringbreaker.ingest.columns import Bad, Parsed, text
from ringbreaker.ingest.tolerant import TOO_DEEP, standardize

Raw = bytes | memoryview | msgspec.Raw
T = TypeVar("T")
Parse = Callable[[Sequence[Raw], Sequence[int]], Parsed]


@dataclass(frozen=True, slots=True)
class Format:
    """One log format, declared once in its own module (``FORMAT = Format(...)``).

    ``fields`` is the Panther-style field map: source path (dotted, as the provider names it) to the
    ``events`` column that holds the value recorded there. Sigma rules are converted against it
    (a Sigma field found here reads the column, any other the raw record), so it lists only paths
    whose value the column keeps as is. ``derived`` documents the rest of what the parser fills:
    column to the source paths it computes that column from (conversions, fallbacks, codes mapped
    to values, hashes). Both are documentation too; a test holds every target to a real column.
    """

    name: str  # the events.source_format value and the --format-hint choice
    provider: str  # the events.provider value
    priority: int  # sniffing asks formats in ascending priority; the first that accepts a record wins
    sniff: Callable[[dict[str, Any]], bool]  # does this decoded record belong to the format?
    parse: Parse  # a chunk of raw records and their offsets into batch columns
    fields: Mapping[str, str]
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sigma: tuple[str, str] | None = None  # the Sigma logsource (product, service) read from this format
    aliases: Mapping[str, str] = field(default_factory=dict)  # other names of a source path (Sigma's)
    # Which records keep their JSON in ``events.raw`` when ingest stores evidence by reference (the
    # default; ``--keep-raw`` keeps every record's): an SQL predicate over the batch row ``b``, true
    # for the records a built-in detection rule reads ``raw`` of. "FALSE": the rules need only the
    # columns, so the record is only cited (file hash + position) and read back from the evidence store.
    raw_kept: str = "FALSE"

    def __post_init__(self) -> None:
        for name in ("fields", "derived", "aliases"):  # read-only views: a descriptor never changes
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


class Chunk(list[Raw]):
    """Records that are ``msgspec.Raw`` views, in order, into one buffer (a ``Records`` envelope or a
    JSON array decoded in one call): the chunk's JSON is then one slice of that buffer, no join."""

    __slots__ = ("buffer",)

    def __init__(self, raws: Sequence[Raw], buffer: bytes) -> None:
        super().__init__(raws)
        self.buffer = buffer


def _address(b: Raw | bytes) -> int:
    return int(np.frombuffer(b, dtype=np.uint8).ctypes.data)


def _span(raws: Sequence[Raw]) -> bytearray | None:
    """``[`` + the bytes from the chunk's first record to its last + ``]``, copied once from the
    buffer they view (None unless both ends lie inside it, in order)."""
    buf = getattr(raws, "buffer", None)
    if buf is None or not raws:
        return None
    base = _address(buf)
    first, last = raws[0], raws[-1]
    if not (len(first) and len(last)):
        return None
    start = _address(first) - base
    end = _address(last) - base + len(last)
    if not (0 <= start < end <= len(buf)):
        return None
    doc = bytearray(end - start + 2)
    doc[0], doc[-1] = 0x5B, 0x5D  # [ ]
    doc[1:-1] = memoryview(buf)[start:end]
    return doc


@contextmanager
def no_gc() -> Iterator[None]:
    """Cyclic GC paused: decoding a chunk allocates ~10^6 objects, each allocation burst would
    otherwise trigger collections that scan them all again (about half the decode time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


SUB = 8192  # records decoded per call: keeps each temporary document under glibc's mmap threshold,
# so its memory is reused from call to call instead of being mapped (and page-faulted) afresh


def decode_chunk(
    raws: Sequence[Raw],
    offsets: Sequence[int],
    many: msgspec.json.Decoder[list[T]],
    one: msgspec.json.Decoder[T],
) -> tuple[list[T], list[int], list[Raw], list[Bad]]:
    """Decode the records a few thousand at a time in one call each; where a call fails, one by
    one, quarantining the records that fail."""
    if len(raws) <= SUB:
        return _decode_sub(raws, offsets, many, one)
    buffer = getattr(raws, "buffer", None)
    good: list[T] = []
    good_off: list[int] = []
    good_raw: list[Raw] = []
    bad: list[Bad] = []
    for s in range(0, len(raws), SUB):
        sub = raws[s : s + SUB]
        got = _decode_sub(sub if buffer is None else Chunk(sub, buffer), offsets[s : s + SUB], many, one)
        good.extend(got[0])
        good_off.extend(got[1])
        good_raw.extend(got[2])
        bad.extend(got[3])
    return good, good_off, good_raw, bad


def _decode_sub(
    raws: Sequence[Raw],
    offsets: Sequence[int],
    many: msgspec.json.Decoder[list[T]],
    one: msgspec.json.Decoder[T],
) -> tuple[list[T], list[int], list[Raw], list[Bad]]:
    try:
        doc = _span(raws) or b"[" + b",".join(raws) + b"]"
        with no_gc():
            items = many.decode(doc)
        del doc
        if len(items) == len(raws):
            return items, list(offsets), list(raws), []
    except (msgspec.DecodeError, RecursionError):
        pass
    good: list[T] = []
    good_off: list[int] = []
    good_raw: list[Raw] = []
    bad: list[Bad] = []
    for read, off in zip(raws, offsets, strict=True):
        raw = read
        try:
            good.append(one.decode(raw))
        except msgspec.ValidationError as e:
            bad.append(Bad(off, f"not a valid record: {e}", text(raw)))
            continue
        except msgspec.DecodeError as e:
            fixed = standardize(bytes(raw))  # NaN/Infinity as Python's json writes them: null
            if fixed is None:
                bad.append(Bad(off, f"not valid JSON: {e}", text(raw)))
                continue
            try:
                good.append(one.decode(fixed))
            except (msgspec.DecodeError, RecursionError) as e2:
                bad.append(Bad(off, f"not a valid record: {e2}", text(raw)))
                continue
            raw = fixed
        except RecursionError:
            bad.append(Bad(off, TOO_DEEP, text(raw)))
            continue
        good_off.append(off)
        good_raw.append(raw)
    return good, good_off, good_raw, bad


def map_dicts(
    raws: Sequence[Raw],
    offsets: Sequence[int],
    mapper: Callable[[Any], dict[str, Any]],
    decoders: tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]] | None = None,
) -> Parsed:
    """Decode records (to dicts, or with ``decoders``, a (list, one) pair for a Struct of the fields
    a format reads, which skips the rest unallocated) and map each with ``mapper``.

    ``mapper`` returns the column values of one record; a KeyError/TypeError/ValueError it raises
    quarantines that record with the message as reason.
    """
    many, one = decoders or (_DICTS, _DICT)
    recs, offs, rws, bad = decode_chunk(raws, offsets, many, one)
    rows: list[dict[str, Any]] = []
    kept_off: list[int] = []
    kept_raw: list[Raw] = []
    for rec, off, raw in zip(recs, offs, rws, strict=True):
        try:
            rows.append(mapper(rec))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            bad.append(Bad(off, f"cannot map record: {type(e).__name__}: {e}", text(raw)))
            continue
        kept_off.append(off)
        kept_raw.append(raw)
    cols: dict[str, Any] = _transpose(rows)
    cols["source_offset"] = kept_off
    cols["raw"] = kept_raw
    n = len(rows)
    return Parsed(cols, n, bad)


def _transpose(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """Row dicts to column sequences. A mapper returns the same keys for every record, so one
    ``itemgetter`` and ``zip`` do it in C; rows with differing keys take the general path."""
    if not rows:
        return {}
    keys = tuple(rows[0])
    if len(keys) > 1 and all(len(r) == len(keys) for r in rows):
        try:
            return dict(zip(keys, zip(*map(itemgetter(*keys), rows), strict=True), strict=True))
        except KeyError:
            pass
    every: dict[str, None] = {}
    for row in rows:
        every.update(dict.fromkeys(row))
    return {k: [row.get(k) for row in rows] for k in every}


_DICTS: msgspec.json.Decoder[list[dict[str, Any]]] = msgspec.json.Decoder(list[dict[str, Any]])
_DICT: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])


def required(rec: Any, key: str) -> Any:
    """A field the record (a dict, or a format's Struct) cannot be stored without."""
    v = rec.get(key) if isinstance(rec, dict) else getattr(rec, key, None)
    if v is None or v == "":
        raise KeyError(f"missing required field {key!r}")
    return v


def get(rec: Any, *path: str) -> Any:
    """rec[a][b]... or None when any step is missing or not an object."""
    for p in path:
        if not isinstance(rec, dict):
            return None
        rec = rec.get(p)
    return rec


def as_str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and "value" in v:  # Azure REST {value, localizedValue}
        return as_str(v["value"])
    return msgspec.json.encode(v).decode() if isinstance(v, dict | list) else str(v)


def as_int(v: Any) -> int | None:
    if v is None or v == "" or isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        return int(float(v))
    except (TypeError, ValueError, OverflowError):  # OverflowError: "inf", "1e999"
        return None
