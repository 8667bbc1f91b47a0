"""Records encoded once, filled many times: the fast path for the high-volume background traffic.

Encoding a dict per event costs several microseconds; at millions of events that is most of the
run. A ``Template`` is the record a format module builds, with sentinel strings in the places that
vary, encoded once with the same encoder as the slow path; filling it is one bytes ``%``-format per
event. So the shape of a record is written once, in its format module, for both paths: a template
cannot drift from the records the one-off (ring) actions write.

Sentinels: ``"~~=FMT:name~~"`` (with its quotes) is replaced by ``%FMT`` and gets a JSON value
(``=d`` an int, ``=s`` pre-encoded JSON bytes, ``=r`` a float); ``~~FMT:name~~`` inside a string is
replaced by ``%FMT`` and gets bytes that need no JSON escaping (ids, times, IPs, model names) or an
int (``07d``). Quotes escaped by an inner ``json.dumps`` (Azure's string-valued ``properties``)
are handled the same way.

Column helpers draw ids and format times for a whole batch with numpy, so no per-event uuid or
strftime call remains.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ringbreaker.simulate.sink import encode

_SENTINEL = re.compile(rb'\\?"~~=([0-9a-z]+):(\w+)~~\\?"|~~([0-9a-z]+):(\w+)~~')


def s(name: str) -> str:
    """A placeholder for bytes inside a JSON string (no escaping needed)."""
    return f"~~s:{name}~~"


def d(name: str, spec: str = "d") -> str:
    """A placeholder for an int, inside a string (``spec`` like ``07d``)."""
    return f"~~{spec}:{name}~~"


def v(name: str, spec: str = "d") -> Any:
    """A placeholder for a whole JSON value: ``d`` an int, ``s`` encoded JSON bytes, ``r`` a float."""
    return f"~~={spec}:{name}~~"


class Template:
    """One record shape with named holes, encoded once; ``fill`` formats a batch of rows."""

    __slots__ = ("fmt", "order")

    def __init__(self, record: dict[str, Any]) -> None:
        raw = encode(record).replace(b"%", b"%%")
        order: list[str] = []

        def hole(m: re.Match[bytes]) -> bytes:
            spec, name = (m[1], m[2]) if m[1] is not None else (m[3], m[4])
            order.append(name.decode())
            return b"%" + spec

        self.fmt = _SENTINEL.sub(hole, raw)
        self.order = tuple(order)

    def fill(self, cols: dict[str, Sequence[Any]]) -> list[bytes]:
        """One encoded record per row; ``cols`` maps each hole's name to a column (lists, same length)."""
        fmt = self.fmt
        return [fmt % row for row in zip(*(cols[n] for n in self.order), strict=True)]


# -- columns ---------------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_VARIANT = np.frombuffer(b"89ab", dtype=np.uint8)
_DASH, _FOUR = ord("-"), ord("4")


def uuids(g: np.random.Generator, n: int) -> list[bytes]:
    """``n`` version-4 UUID strings (as bytes) from ``g``: same generator state, same ids.

    Built column-wise on the hex digits of one ``bytes`` draw: no per-id Python work.
    """
    h = np.frombuffer(g.bytes(16 * n).hex().encode(), dtype=np.uint8).reshape(n, 32)
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, 0:8] = h[:, 0:8]
    out[:, 9:13] = h[:, 8:12]
    out[:, 14] = _FOUR
    out[:, 15:18] = h[:, 13:16]
    out[:, 19] = _VARIANT[h[:, 16] & 3]
    out[:, 20:23] = h[:, 17:20]
    out[:, 24:36] = h[:, 20:32]
    out[:, [8, 13, 18, 23]] = _DASH
    return out.view("S36").ravel().tolist()


def hexids(g: np.random.Generator, n: int, width: int) -> list[bytes]:
    """``n`` random lowercase hex strings of ``width`` (even) characters."""
    raw = g.bytes(width // 2 * n).hex().encode()
    return np.frombuffer(raw, dtype=f"S{width}").tolist()  # type: ignore[no-any-return]


class Rand:
    """A stream's numpy generator plus pools of ids drawn from it in chunks.

    Background batches are often a handful of events; drawing their ids in chunks of a few
    thousand keeps numpy's per-call cost off every batch. The pools are consumed in call order,
    so a stream gives the same ids for the same sequence of requests.
    """

    CHUNK = 2048

    def __init__(self, g: np.random.Generator) -> None:
        self.g = g
        self._uuid: list[bytes] = []
        self._hex: list[bytes] = []

    def uuids(self, n: int) -> list[bytes]:
        """``n`` UUIDs from the pool."""
        if n > len(self._uuid):
            self._uuid += uuids(self.g, max(n, self.CHUNK))
        out, self._uuid = self._uuid[:n], self._uuid[n:]
        return out

    def hex24(self, n: int) -> list[bytes]:
        """``n`` 24-character hex ids from the pool."""
        if n > len(self._hex):
            self._hex += hexids(self.g, max(n, self.CHUNK), 24)
        out, self._hex = self._hex[:n], self._hex[n:]
        return out


_MMSS = [f"{m:02d}:{sec:02d}".encode() for m in range(60) for sec in range(60)]


class Clock:
    """Formats the seconds of one hour (and a little past it) from a per-hour table, not strftime."""

    def __init__(self, t0: int, spill: int = 60) -> None:
        self.t0 = t0
        hours = [time.strftime("%Y-%m-%dT%H:", time.gmtime(t0 + h * 3600)).encode() for h in (0, 1)]
        table = [hours[0] + x for x in _MMSS] + [hours[1] + x for x in _MMSS[:spill]]
        self._table = np.array(table, dtype=object)

    def seconds(self, t: np.ndarray) -> np.ndarray:
        """``YYYY-MM-DDTHH:MM:SS`` (bytes, object array) of each epoch second in ``t``."""
        return self._table[t - self.t0]  # type: ignore[no-any-return]


def table(values: Sequence[Any]) -> np.ndarray:
    """An object array to pick from with an index array (``table(x)[idx]``)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
