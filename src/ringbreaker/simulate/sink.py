"""Writes records to disk in their providers' file layouts, one hour at a time.

The engine produces an hour of events, the sink sorts each file's records by time and writes them,
then forgets them: memory is bounded by one simulated hour, whatever the scale. Every partitioned
layout used (CloudTrail 15-minute files, hourly Bedrock and Azure blobs) closes within the hour, so
each file is written once, whole. A multi-call action that starts in the last seconds of an hour
spills into the next one: ``flush(until)`` keeps every file whose records reach ``until`` in the
buffer (and the appended files' later lines) so they are written, sorted, with the next hour.
gzip output carries no timestamp or name, so bytes are deterministic.

Records arrive one at a time (one-off actions, encoded from a dict) or as batches of pre-encoded
lines (the background traffic, see ``template``); a file's rows are ordered by time, ties in
arrival order, with one stable numpy argsort per file.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

_ENC = msgspec.json.Encoder()
encode = _ENC.encode

GZ = "gz-records"  # gzip of {"Records": [...]}
GZ_LINES = "gz-lines"  # gzip of NDJSON
LINES = "lines"  # NDJSON
APPEND = "append"  # NDJSON appended across hours (one file for the whole run)

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class _File:
    """One output file's pending rows: times (batches of arrays) and encoded lines."""

    __slots__ = ("last", "layout", "lines", "sorted", "times")

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.times: list[np.ndarray] = []
        self.lines: list[bytes] = []
        self.sorted = True
        self.last = -1

    def add(self, times: np.ndarray, lines: list[bytes]) -> None:
        if len(times):
            if self.sorted and (times[0] < self.last or (len(times) > 1 and np.any(np.diff(times) < 0))):
                self.sorted = False
            self.last = max(self.last, int(times.max()))
        self.times.append(times)
        self.lines += lines

    def take(self, until: int | None) -> tuple[list[bytes], _File | None]:
        """(lines with time < ``until``, sorted; the rest as a new pending file, or None)."""
        t = np.concatenate(self.times) if len(self.times) > 1 else self.times[0]
        lines = self.lines
        if not self.sorted:
            order = np.argsort(t, kind="stable")
            t = t[order]
            arr = np.empty(len(lines), dtype=object)
            arr[:] = lines
            lines = arr[order].tolist()
        if until is None or self.last < until:
            return lines, None
        cut = int(np.searchsorted(t, until, side="left"))
        rest = _File(self.layout)
        rest.add(t[cut:], lines[cut:])
        return lines[:cut], rest


class Sink:
    """Buffers records per file and writes them sorted by time, an hour at a time."""

    def __init__(self, out: Path, seed: int, level: int = 1) -> None:
        self.out = out
        self.seed = seed
        self.level = level
        self.buf: dict[str, _File] = {}
        self.counts: Counter[str] = Counter()
        self.files = 0
        self._append: dict[str, IO[bytes]] = {}
        self._suffix: dict[tuple[str, ...], str] = {}
        self._dirs: set[str] = set()
        self.touched: set[str] = set()  # paths added to since the last flush

    def _file(self, path: str, layout: str) -> _File:
        self.touched.add(path)
        f = self.buf.get(path)
        if f is None:
            f = self.buf[path] = _File(layout)
        return f

    def add(self, fmt: str, path: str, layout: str, t: int, record: dict[str, Any]) -> None:
        """Queue one record (a dict, encoded now) for ``path`` under OUT."""
        self.add_raw(fmt, path, layout, t, encode(record))

    def add_raw(self, fmt: str, path: str, layout: str, t: int, line: bytes) -> None:
        self._file(path, layout).add(np.array([t], dtype=np.int64), [line])
        self.counts[fmt] += 1

    def add_many(self, fmt: str, path: str, layout: str, times: np.ndarray, lines: Sequence[bytes]) -> None:
        """Queue a batch of encoded lines, ``times[i]`` being the time of ``lines[i]``."""
        if not len(lines):
            return
        self._file(path, layout).add(np.asarray(times, dtype=np.int64), list(lines))
        self.counts[fmt] += len(lines)

    def suffix(self, *parts: str, n: int = 16) -> str:
        """A deterministic random-looking alnum suffix (CloudTrail file names carry one)."""
        key = (*parts, str(n))
        got = self._suffix.get(key)
        if got is None:
            h = hashlib.sha256(("|".join(parts) + f"|{self.seed}").encode()).digest()
            got = self._suffix[key] = "".join(_ALNUM[b % 62] for b in h[:n])
            if len(self._suffix) > 50_000:  # paths move on with time; old ones are not asked again
                self._suffix.clear()
        return got

    def _mkdir(self, d: str) -> None:
        if d not in self._dirs:
            os.makedirs(d, exist_ok=True)
            self._dirs.add(d)
            if len(self._dirs) > 50_000:
                self._dirs.clear()

    def flush(self, until: int | None = None, *, touched: bool = False) -> None:
        """Write every file whose records all precede ``until`` (all files when None).

        Appended files get their lines before ``until``; later ones wait for the next flush.
        ``touched``: only the partitioned files added to since the last flush (the organisation
        just drawn, whose files for this hour are complete), so memory holds one organisation's
        hour rather than everyone's; appended files, shared, wait for the hour's full flush.
        """
        paths = sorted(self.touched) if touched else sorted(self.buf)
        self.touched = set()
        for path in paths:
            f = self.buf[path]
            if f.layout == APPEND and touched:
                continue
            if f.layout != APPEND and until is not None and f.last >= until:
                continue
            del self.buf[path]
            lines, rest = f.take(until if f.layout == APPEND else None)
            if rest is not None:
                self.buf[path] = rest
            if lines:
                self._write(path, f.layout, lines)

    def _write(self, path: str, layout: str, lines: list[bytes]) -> None:
        p = f"{self.out}/{path}"
        if layout == APPEND:
            fh = self._append.get(path)
            if fh is None:
                self._mkdir(os.path.dirname(p))
                fh = self._append[path] = open(p, "wb")  # noqa: SIM115 - stays open across hours
                self.files += 1
            fh.write(b"\n".join(lines))  # no `+ b"\n"`: that would copy an hour of lines again
            fh.write(b"\n")
            return
        self._mkdir(os.path.dirname(p))
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # a late record for a file already written: keep both (not seen)
            with open(p, "rb") as f:
                old = f.read()
            if layout in (GZ, GZ_LINES):
                old = zlib.decompress(old, 31)
            lines = [old[len(b'{"Records":[') : -2] if layout == GZ else old.rstrip(b"\n"), *lines]
            fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        else:
            self.files += 1
        data = b'{"Records":[' + b",".join(lines) + b"]}" if layout == GZ else b"\n".join(lines) + b"\n"
        if layout in (GZ, GZ_LINES):
            # memLevel 9: measurably faster than the default 8 at level 1, same format.
            c = zlib.compressobj(self.level, zlib.DEFLATED, 31, 9)
            data = c.compress(data) + c.flush()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def close(self) -> None:
        self.flush()
        for fh in self._append.values():
            fh.close()
        self._append.clear()
