"""Bytes to records: decompression (gzip, zstd, plain by magic bytes) and container shapes.

Shapes: ``records`` (an envelope object holding the list: CloudTrail ``Records``, Azure ``records``,
OpenAI ``data``, Azure REST ``value``), ``array`` (a JSON array), ``ndjson`` (one object a line),
``csv`` (a header line), ``object`` (one JSON document). Offsets are 1-based line numbers for
ndjson and csv, 0-based record indexes otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ringbreaker.ingest.tolerant import NONSTANDARD, TOO_DEEP, lines_to_utf8, list_start, salvage, to_utf8

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ENVELOPE_KEYS = ("Records", "records", "data", "value")


@dataclass(slots=True)
class Decoded:
    data: bytes
    compression: str  # gzip | zstd | plain
    truncated_at: int | None = None  # compressed byte offset where the stream broke off


def decompress(blob: bytes) -> Decoded:
    """Undo gzip (all members) or zstd (all frames); keep what was readable from a broken stream."""
    compression = _compression(blob)
    if compression == "plain":
        return Decoded(blob, "plain")
    inflater = _Inflater(compression)
    data = b"".join(inflater.feed(blob))
    inflater.finish()
    return Decoded(data, compression, inflater.truncated_at)


def _compression(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "plain"


class _Inflater:
    """A gzip (every member) or zstd (every frame) stream decompressed as it is fed, whole or in
    pieces. After ``finish``, ``truncated_at`` is the compressed offset where a broken stream
    stopped: the start of the member that failed to decode, or the end of the input when it ended
    inside a member. Trailing garbage or padding after a member ends the stream quietly."""

    def __init__(self, compression: str) -> None:
        self._new: Callable[[], Any]
        self._broken: type[Exception]  # what the codec raises on a damaged member
        if compression == "gzip":
            self.magic, self._new, self._broken = GZIP_MAGIC, lambda: zlib.decompressobj(wbits=31), zlib.error
        else:
            import zstandard

            self.magic, self._broken = ZSTD_MAGIC, zstandard.ZstdError
            self._new = lambda: zstandard.ZstdDecompressor().decompressobj()
        self._d = self._new()
        self._fed = False  # the current member has had input
        self._done = False  # stopped: what follows is not decoded
        self._member_at = 0  # compressed offset where the current member began
        self._pos = 0  # compressed bytes fed so far
        self._carry = b""  # the start of the next member's magic, cut off at a piece's end
        self.truncated_at: int | None = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decompressed bytes of the next compressed piece."""
        buf = self._carry + data
        base = self._pos - len(self._carry)  # compressed offset of ``buf``
        self._carry = b""
        self._pos += len(data)
        while buf and not self._done:
            try:
                out = self._d.decompress(buf)
            except self._broken:  # a broken member: the stream stops here
                self.truncated_at, self._done = self._member_at, True
                return
            self._fed = True
            if out:
                yield out
            if not self._d.eof:
                return
            rest = self._d.unused_data
            base += len(buf) - len(rest)
            self._member_at, self._d, self._fed = base, self._new(), False
            if len(rest) < len(self.magic) and self.magic.startswith(rest):
                self._carry = rest  # the next member's magic straddles two pieces (or nothing follows)
                return
            if not rest.startswith(self.magic):  # trailing garbage or padding ends the stream
                self._done = True
                return
            buf = rest

    def finish(self) -> None:
        """Call after the last piece: a stream that stopped inside a member is truncated."""
        if not self._done and self._fed and not self._d.eof:
            self.truncated_at = self._pos


@dataclass(slots=True)
class Container:
    """The records of one file, still as raw JSON bytes, with where each came from."""

    shape: str
    raws: Sequence[bytes | memoryview | msgspec.Raw]
    offsets: list[int]
    notes: list[str] = field(default_factory=list)
    broken: list[tuple[int | None, str, str]] = field(default_factory=list)  # offset, reason, text
    buffer: bytes | None = None  # what ``raws`` (msgspec.Raw, in order) view, when one decode made them
    encoding: str | None = None  # the encoding assumed (a note), when the bytes were not UTF-8


class _Envelope(msgspec.Struct):
    Records: list[msgspec.Raw] | None = None
    records: list[msgspec.Raw] | None = None
    data: list[msgspec.Raw] | None = None
    value: list[msgspec.Raw] | None = None


_ENV = msgspec.json.Decoder(_Envelope)
_RAWS = msgspec.json.Decoder(list[msgspec.Raw])


def _envelope_list(env: _Envelope) -> tuple[str, list[msgspec.Raw]] | None:
    for key in ENVELOPE_KEYS:
        v = getattr(env, key)
        if v is not None:
            return key, v
    return None


def split(data: bytes, *, truncated: bool = False, salvage: bool = True) -> Container:
    """Find the records in a decompressed file, whatever its shape, in UTF-8 (see ``to_utf8``;
    the encoding assumed, when not UTF-8, is the container's first note). ``salvage=False``: a
    document that does not decode in one call comes back with its shape and no records, unread
    (the first block of a big file, only probed for its shape)."""
    data, encoding = to_utf8(data)
    c = _split(data, truncated, salvage)
    if encoding:
        c.notes.insert(0, encoding)
        c.encoding = encoding
    return c


def _split(data: bytes, truncated: bool, salvage: bool) -> Container:
    start = _skip_ws(data)
    if start >= len(data):
        return Container("empty", [], [])
    first = data[start : start + 1]
    if first == b"[":
        try:
            raws = _RAWS.decode(data)
        except (msgspec.DecodeError, RecursionError) as e:
            return (
                _salvage(data, start, "array", _why(e), truncated) if salvage else Container("array", [], [])
            )
        return Container("array", raws, list(range(len(raws))), buffer=data)
    if first == b"{":
        nl = data.find(b"\n", start)
        view = memoryview(data)  # the first line without a copy (it may be the whole file)
        line = view[start:] if nl < 0 else view[start:nl]
        env: _Envelope | None = None
        try:
            env = _ENV.decode(line)
        except msgspec.ValidationError:
            env = None  # e.g. `data` is not a list: a plain record that happens to have the key
        except (msgspec.DecodeError, RecursionError):
            # not a complete document on one line: a pretty-printed document (or a broken first line)
            try:
                env = _ENV.decode(data)
            except msgspec.ValidationError:
                return Container("object", [data[start:]], [0])
            except (msgspec.DecodeError, RecursionError) as e:
                if b"\n{" in data[start:] and _looks_ndjson(data):
                    return _ndjson(data)
                if not salvage:
                    return Container("records", [], [])
                return _salvage(data, start, "records", _why(e), truncated)
            found = _envelope_list(env)
            if found is None:
                return Container("object", [data[start:]], [0])
            return Container(
                "records", found[1], list(range(len(found[1]))), [f"envelope {found[0]}"], buffer=data
            )
        found = _envelope_list(env) if env is not None else None
        if found is not None and (nl < 0 or not data[nl:].strip()):
            return Container(
                "records", found[1], list(range(len(found[1]))), [f"envelope {found[0]}"], buffer=data
            )
        if found is not None:
            return _ndjson_envelopes(data)
        return _ndjson(data)
    return _csv(data)


def _skip_ws(data: bytes) -> int:
    i = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    n = len(data)
    while i < n and data[i] in b" \t\r\n":
        i += 1
    return i


def _looks_ndjson(data: bytes) -> bool:
    """A file whose first non-blank line fails to parse but whose later lines parse is NDJSON."""
    for line in data.split(b"\n", 6)[1:6]:
        if line.strip():
            try:
                msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            return True
    return False


def _ndjson(data: bytes) -> Container:
    lines = data.split(b"\n")
    raws: list[bytes] = []
    offsets: list[int] = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            raws.append(line)
            offsets.append(i)
    return Container("ndjson", raws, offsets)


def _ndjson_envelopes(data: bytes) -> Container:
    """One envelope a line (e.g. CloudTrail Records forwarded line by line): flattened."""
    raws: list[msgspec.Raw] = []
    offsets: list[int] = []
    c = Container("ndjson-records", raws, offsets)
    for i, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            found = _envelope_list(_ENV.decode(line))
        except msgspec.DecodeError as e:
            c.broken.append((i, f"not valid JSON: {e}", line.decode("utf-8", "replace")))
            continue
        if found is None:
            c.broken.append((i, "line is not a records envelope", line.decode("utf-8", "replace")))
            continue
        raws.extend(found[1])
        offsets.extend([i] * len(found[1]))
    return c


def _why(e: Exception) -> str:
    return TOO_DEEP if isinstance(e, RecursionError) else str(e)


def _salvage(data: bytes, start: int, shape: str, error: str, truncated: bool) -> Container:
    """A document that does not parse in one call: every record of its list decoded on its own
    (``tolerant.salvage``), so a malformed one is quarantined alone and its siblings are kept."""
    pos = list_start(data, start, shape)
    if pos < 0:
        c = Container(shape, [], [])
        c.broken.append((None, f"not valid JSON: {error}", data.decode("utf-8", "replace")))
        return c
    got = salvage(data, pos, shape, truncated)
    c = Container(shape, got.raws, got.offsets)
    c.broken.extend((o, why, raw.decode("utf-8", "replace")) for o, why, raw in got.broken)
    note = f"document does not parse ({error}); kept {len(got.raws)} record(s), quarantined {len(got.broken)}"
    c.notes.append(note)
    if got.repaired:
        c.notes.append(f"{got.repaired} record(s) with {NONSTANDARD}")
    return c


_INT_COLUMNS = frozenset({"total_tokens", "prompt_tokens", "completion_tokens"})
_FLOAT_COLUMNS = frozenset({"spend"})


def _csv(data: bytes) -> Container:
    """CSV with a header line (LiteLLM SpendLogs exports): each row becomes a JSON object."""
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or len(reader.fieldnames) < 2:
        return Container("unknown", [], [], ["neither JSON nor CSV with a header"])
    raws: list[bytes] = []
    offsets: list[int] = []
    c = Container("csv", raws, offsets)
    enc = msgspec.json.Encoder()
    for row in reader:
        line = reader.line_num
        if None in row:
            c.broken.append((line, "CSV row has more fields than the header", str(row)))
            continue
        obj: dict[str, Any] = {}
        for k, v in row.items():
            obj[k] = _csv_value(k, v)
        raws.append(enc.encode(obj))
        offsets.append(line)
    return c


def _csv_value(key: str, v: str | None) -> Any:
    if v is None or v == "":
        return None
    if key in _INT_COLUMNS:
        try:
            return int(float(v))
        except ValueError:
            return v
    if key in _FLOAT_COLUMNS:
        try:
            return float(v)
        except ValueError:
            return v
    if v[0] in "{[":
        try:
            return msgspec.json.decode(v)
        except msgspec.DecodeError:
            return v
    return v


PIECE = 1 << 20  # compressed bytes read at a time while streaming


class Stream:
    """A big file's decompressed bytes in line-aligned blocks, read piece by piece, so memory stays
    bounded whatever the file's size. Hashes the file (SHA-256 of its bytes as stored) on the way;
    after the blocks are consumed, ``sha256``, ``size``, ``compression`` and ``truncated_at`` (the
    compressed byte offset where a broken stream stopped, as ``decompress`` reports it) are set."""

    def __init__(self, path: str, block: int) -> None:
        self.path = path
        self.block = block
        self.compression = "plain"
        self.truncated_at: int | None = None
        self.size = 0
        self.sha256 = ""

    def blocks(self) -> Iterator[bytes]:
        """Decompressed blocks of at least ``block`` bytes (but the last), each ending with a line
        break (but a last line without one)."""
        pending: list[bytes] = []
        n = 0
        for piece in self._pieces():
            pending.append(piece)
            n += len(piece)
            if n >= self.block:
                buf = b"".join(pending)
                cut = buf.rfind(b"\n") + 1
                if cut:
                    yield buf[:cut]
                    rest = buf[cut:]
                    pending, n = ([rest], len(rest)) if rest else ([], 0)
                else:
                    pending = [buf]
        if n:
            yield b"".join(pending)

    def _pieces(self) -> Iterator[bytes]:
        sha = hashlib.sha256()
        with open(self.path, "rb") as f:
            data = f.read(PIECE)
            self.compression = _compression(data)
            inflater = None if self.compression == "plain" else _Inflater(self.compression)
            while data:
                sha.update(data)
                if inflater is None:
                    yield data
                else:
                    yield from inflater.feed(data)
                self.size += len(data)
                data = f.read(PIECE)
        if inflater is not None:
            inflater.finish()
            self.truncated_at = inflater.truncated_at
        self.sha256 = sha.hexdigest()


def split_lines(data: bytes, envelopes: bool, first_line: int) -> Container:
    """One block of an NDJSON stream (``envelopes``: one records envelope a line), with line numbers
    counted from ``first_line``."""
    data, latin1 = lines_to_utf8(data)
    c = _ndjson_envelopes(data) if envelopes else _ndjson(data)
    if latin1:
        c.notes.append(f"encoding: {latin1:,} line(s) not valid UTF-8, read as Latin-1")
    if first_line != 1:
        shift = first_line - 1
        c.offsets[:] = [o + shift for o in c.offsets]
        c.broken = [(None if o is None else o + shift, why, raw) for o, why, raw in c.broken]
    return c
