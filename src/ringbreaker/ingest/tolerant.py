"""Reading what a strict decoder refuses, without losing the records around it.

The fast path (readers.split) decodes a whole JSON array or ``Records`` document in one msgspec
call. Only when that call fails does this module run: a bracket- and string-aware scanner finds the
boundary of every record in the list, each record is decoded on its own, and a record that does
not decode is quarantined alone (with its index and text) while its siblings are kept. When a broken
record hides its own end (a quote or bracket lost), the scanner resynchronises on the next
``,{`` at which a complete record begins and is followed by another record or by the list's end.

Also here, because they are the same kind of repair: text encodings other than UTF-8 (a BOM,
UTF-16, Latin-1 for bytes that are not UTF-8) transcoded to UTF-8 before splitting, and the
non-standard numbers Python's ``json.dumps`` writes (``NaN``, ``Infinity``, ``-Infinity``) read as
``null``. Nothing here recurses: a record nested deeper than msgspec decodes (Python's recursion
limit, about 1,000 levels) is quarantined with ``TOO_DEEP`` as its reason.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import msgspec

TOO_DEEP = "nested too deeply to decode (more than about 1,000 levels)"
NONSTANDARD = "NaN/Infinity read as null"

# a JSON string (escapes and all), or one bracket; possessive, so an unterminated string fails fast
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')
_SKIP = re.compile(rb"[\s,]*+")
_WS = re.compile(rb"\s*+")
_SCALAR_END = re.compile(rb"[,\]\s]")
_NEXT_OBJECT = re.compile(rb",\s*+\{")
_NUMBERS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|-?Infinity|NaN')
_LIST_KEY = re.compile(rb'"(?:Records|records|data|value)"\s*+:\s*+\[')
_RAW = msgspec.json.Decoder(msgspec.Raw)
_ANY = msgspec.json.Decoder()
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


@dataclass(slots=True)
class Salvaged:
    """The records of one list found by the scanner: raw bytes each, their 0-based indexes, and
    the broken ones as (index, reason, text)."""

    raws: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    broken: list[tuple[int | None, str, bytes]] = field(default_factory=list)
    repaired: int = 0  # records whose NaN/Infinity were read as null


def list_start(data: bytes, start: int, shape: str) -> int:
    """Where the records list begins (just after its ``[``), or -1: the array itself, or the
    envelope's ``Records``/``records``/``data``/``value`` list."""
    if shape == "array":
        return start + 1 if data[start : start + 1] == b"[" else -1
    m = _LIST_KEY.search(data, start)
    if m is not None:
        return m.end()
    i = data.find(b"[", start)
    return -1 if i < 0 else i + 1


def salvage(data: bytes, pos: int, shape: str, truncated: bool) -> Salvaged:
    """Every record of the list beginning at ``pos`` (just after ``[``); see the module docstring."""
    out = Salvaged()
    n = len(data)
    idx = 0
    i = pos
    while True:
        i = _SKIP.match(data, i).end()  # type: ignore[union-attr]  # matches the empty string
        if i >= n:
            break
        if data[i] == 0x5D:  # ]
            break
        end = value_end(data, i)
        if end is not None and _separated(data, end):
            _keep(out, idx, data[i:end])
            idx += 1
            i = end
            continue
        nxt = _resync(data, i + 1, shape)
        if nxt is None:
            tail = data[i : _list_end(data, i)].rstrip(b" \t\r\n,")
            why = "record cut off by truncation" if truncated else "not valid JSON: the record does not end"
            out.broken.append((idx, why, tail))
            break
        out.broken.append(
            (idx, "not valid JSON: the record does not end before the next one", _cut(data, i, nxt))
        )
        idx += 1
        i = nxt
    return out


def _keep(out: Salvaged, idx: int, rec: bytes) -> None:
    try:
        _RAW.decode(rec)
        out.raws.append(rec)
        out.offsets.append(idx)
        return
    except RecursionError:
        out.broken.append((idx, TOO_DEEP, rec))
        return
    except msgspec.DecodeError as e:
        error = str(e)
    fixed = standardize(rec)
    if fixed is not None:
        out.raws.append(fixed)
        out.offsets.append(idx)
        out.repaired += 1
        return
    out.broken.append((idx, f"not valid JSON: {error}", rec))


def standardize(rec: bytes) -> bytes | None:
    """``rec`` with its NaN/Infinity/-Infinity tokens (outside strings) as ``null``, when that
    makes it valid JSON; else None. Only called on a record that failed to decode."""
    if b"NaN" not in rec and b"Infinity" not in rec:
        return None
    fixed = _NUMBERS.sub(lambda m: m.group() if m.group()[:1] == b'"' else b"null", rec)
    try:
        _RAW.decode(fixed)
    except (msgspec.DecodeError, RecursionError):
        return None
    return fixed


def value_end(data: bytes, i: int) -> int | None:
    """The index just after the JSON value starting at ``i`` (an object or array by bracket depth,
    strings skipped whole; a scalar up to the next separator), or None when it never closes."""
    first = data[i]
    if first not in _OPEN:
        if first == 0x22:  # "
            m = _TOKEN.match(data, i)
            return m.end() if m is not None and m.group()[:1] == b'"' else None
        m = _SCALAR_END.search(data, i)
        return len(data) if m is None else m.start()
    depth = 0
    for m in _TOKEN.finditer(data, i):
        c = data[m.start()]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def _separated(data: bytes, end: int) -> bool:
    """A record ending at ``end`` is followed by a comma or the list's ``]``."""
    j = _WS.match(data, end).end()  # type: ignore[union-attr]
    return j < len(data) and data[j] in b",]"


def _resync(data: bytes, start: int, shape: str) -> int | None:
    """The start of the first record after ``start`` that begins with ``,{``, is complete and valid
    JSON, and is followed by another ``,{`` or by the end of the list (checked by decoding what
    follows as the rest of the document, so an inner array of objects is not mistaken for it)."""
    for m in _NEXT_OBJECT.finditer(data, start):
        c = m.end() - 1
        end = value_end(data, c)
        if end is None:
            continue
        try:
            _RAW.decode(data[c:end])
        except (msgspec.DecodeError, RecursionError):
            continue
        j = _WS.match(data, end).end()  # type: ignore[union-attr]
        if _NEXT_OBJECT.match(data, j) or (j < len(data) and data[j] == 0x5D and _closes(data, j, shape)):
            return c
    return None


def _closes(data: bytes, j: int, shape: str) -> bool:
    """``data[j:]`` (from a ``]``) ends the document validly."""
    head = b"[" if shape == "array" else b'{"x":['
    try:
        _ANY.decode(head + data[j:])
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def _list_end(data: bytes, i: int) -> int:
    k = data.rfind(b"]")
    return k if k > i else len(data)


def _cut(data: bytes, i: int, nxt: int) -> bytes:
    """A broken record's text: from its start to the comma before the next record."""
    return data[i:nxt].rstrip(b" \t\r\n").removesuffix(b",").rstrip()


_UTF16 = ((codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"))
_CHECK = 1 << 20  # bytes validated at a time (memory stays bounded however big the file)


def to_utf8(data: bytes) -> tuple[bytes, str | None]:
    """``data`` as UTF-8, and a note naming the encoding assumed when it was not plain UTF-8: a
    UTF-8 BOM is dropped; UTF-16 (LE/BE, by BOM, or by the zero bytes of JSON's first ASCII
    character) is transcoded; a line that is not valid UTF-8 is read as Latin-1 (every byte is a
    character there, so nothing is lost; line by line, since a newline is never inside a JSON
    string and one line's encoding says nothing of the next). ASCII and valid UTF-8 come back as
    they are."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:], "encoding: UTF-8 with BOM (BOM dropped)"
    for bom, codec, name in _UTF16:
        if data.startswith(bom):
            return _transcode(data[2:], codec, f"{name} (BOM)")
    if len(data) >= 2 and data[0] == 0 and data[1] != 0:
        return _transcode(data, "utf-16-be", "UTF-16BE (no BOM)")
    if len(data) >= 2 and data[1] == 0 and data[0] != 0:
        return _transcode(data, "utf-16-le", "UTF-16LE (no BOM)")
    data, n = lines_to_utf8(data)
    return data, (f"encoding: {n:,} line(s) not valid UTF-8, read as Latin-1" if n else None)


def _transcode(data: bytes, codec: str, name: str) -> tuple[bytes, str | None]:
    try:
        return data.decode(codec).encode("utf-8"), f"encoding: {name}, transcoded to UTF-8"
    except UnicodeDecodeError:
        return data, None  # not UTF-16 after all: left to the usual reading


def _valid_utf8(data: bytes) -> bool:
    dec = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for s in range(0, len(data), _CHECK):
            dec.decode(view[s : s + _CHECK])
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def lines_to_utf8(data: bytes) -> tuple[bytes, int]:
    """``data`` with each line that is not valid UTF-8 read as Latin-1, and how many lines were."""
    if data.isascii() or _valid_utf8(data):
        return data, 0
    out: list[bytes] = []
    n = 0
    for line in data.split(b"\n"):
        try:
            line.decode("utf-8")
            out.append(line)
        except UnicodeDecodeError:
            out.append(line.decode("latin-1").encode("utf-8"))
            n += 1
    return b"\n".join(out), n
