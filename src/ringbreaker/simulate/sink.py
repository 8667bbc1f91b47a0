"""Writes records to disk in their providers' file layouts, one hour at a time.

The engine produces an hour of events, the sink sorts each file's records by time and writes them,
then forgets them: memory is bounded by one simulated hour, whatever the scale. Every partitioned
layout used (CloudTrail 15-minute files, hourly Bedrock and Azure blobs) closes within the hour, so
each file is written once, except when a multi-call action that starts in the last seconds of an
hour spills over: its file is then extended. gzip output carries no timestamp or name, so bytes
are deterministic.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from pathlib import Path
from typing import IO, Any

import msgspec

_ENC = msgspec.json.Encoder()
encode = _ENC.encode

GZ = "gz-records"  # gzip of {"Records": [...]}
GZ_LINES = "gz-lines"  # gzip of NDJSON
LINES = "lines"  # NDJSON
APPEND = "append"  # NDJSON appended across hours (one file for the whole run)


class Sink:
    """Buffers an hour of records per file and writes them sorted by time."""

    def __init__(self, out: Path, seed: int, level: int = 1) -> None:
        self.out = out
        self.seed = seed
        self.level = level
        self.buf: dict[str, tuple[str, list[tuple[int, int, bytes]]]] = {}
        self.seq = 0
        self.counts: Counter[str] = Counter()
        self.files = 0
        self._append: dict[str, IO[bytes]] = {}

    def add(self, fmt: str, path: str, layout: str, t: int, record: dict[str, Any]) -> None:
        """Queue one record (a dict, encoded now) for ``path`` under OUT."""
        self.add_raw(fmt, path, layout, t, encode(record))

    def add_raw(self, fmt: str, path: str, layout: str, t: int, line: bytes) -> None:
        entry = self.buf.get(path)
        if entry is None:
            entry = self.buf[path] = (layout, [])
        self.seq += 1
        entry[1].append((t, self.seq, line))
        self.counts[fmt] += 1

    def suffix(self, *parts: str, n: int = 16) -> str:
        """A deterministic random-looking alnum suffix (CloudTrail file names carry one)."""
        h = hashlib.sha256(("|".join(parts) + f"|{self.seed}").encode()).digest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[b % 62] for b in h[:n])

    def flush(self) -> None:
        """Write every buffered file; appended files stay open."""
        for path in sorted(self.buf):
            layout, rows = self.buf[path]
            rows.sort()
            lines = [r[2] for r in rows]
            if layout == APPEND:
                fh = self._append.get(path)
                if fh is None:
                    p = self.out / path
                    p.parent.mkdir(parents=True, exist_ok=True)
                    fh = self._append[path] = p.open("wb")
                    self.files += 1
                fh.write(b"\n".join(lines) + b"\n")
                continue
            p = self.out / path
            if p.exists():  # a multi-call action that began late in the previous hour spilled over
                old = p.read_bytes()
                if layout in (GZ, GZ_LINES):
                    old = zlib.decompress(old, 31)
                if layout == GZ:
                    lines = [old[len(b'{"Records":[') : -2], *lines]
                else:
                    lines = [old.rstrip(b"\n"), *lines]
            else:
                self.files += 1
            data = b'{"Records":[' + b",".join(lines) + b"]}" if layout == GZ else b"\n".join(lines) + b"\n"
            if layout in (GZ, GZ_LINES):
                c = zlib.compressobj(self.level, zlib.DEFLATED, 31)
                data = c.compress(data) + c.flush()
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        self.buf.clear()

    def close(self) -> None:
        self.flush()
        for fh in self._append.values():
            fh.close()
        self._append.clear()
