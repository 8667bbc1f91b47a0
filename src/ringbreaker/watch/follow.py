"""Which files are new, grown or still being written: directories polled as shippers fill them.

Polling (``os.scandir`` every ``--poll`` seconds) rather than inotify: it works the same on every OS,
on network and FUSE mounts (an S3 sync target, an SMB share of Azure exports) where change events
do not arrive, and needs no dependency. A file is one of two kinds, decided from its first line:

- **tail** (plain JSONL: its first line is one JSON object): read from where the last read stopped.
  Only complete lines are taken; a partial last line waits for the next poll (or, once the file is
  quiet for ``settle`` seconds, is taken when it is a whole JSON object: an object's proper prefix is
  never valid JSON). The offset is ``ingested_files.size``, committed with the lines' events (see
  ``ringbreaker.ingest.Appended``), so a restart resumes at the last stored line. A file that shrank,
  changed inode, or whose first or last-read 4 KiB changed is read again from its start (event ids
  dedupe); after a restart the whole consumed prefix is checked against ``ingested_files.sha256``.
- **whole** (gzip/zstd, JSON documents, CSV): handed to ``ingest`` once it is stable, i.e. its size
  and mtime are the same as at the previous poll or it was not modified for ``settle`` seconds, so
  a half-copied object is never read. ``ingest`` skips it again while path, size and hash match.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ringbreaker.errors import InputError
from ringbreaker.ingest import Appended, expand

HEAD = 4096  # bytes compared at the start of a tail file, and just before its offset, on each change
MAX_PIECE = 32 << 20  # bytes of one file read in one poll at most (the rest comes at the next)
SNIFF = 1 << 20  # bytes read to find a file's first line
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~", ".lock")
_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # gzip, zstd


@dataclass(frozen=True, slots=True)
class Known:
    """A file's ``ingested_files`` row: bytes consumed (size), their SHA-256, format, when."""

    size: int
    sha256: str
    format: str
    finished_ms: int


@dataclass(slots=True)
class _File:
    size: int = -1
    mtime_ns: int = -1
    ino: int = -1
    mode: str | None = None  # tail | whole | skip
    offset: int = 0  # tail: bytes consumed (whole lines)
    lines: int = 0  # tail: line breaks in those bytes
    sha: Any = None  # tail: running SHA-256 of [0, offset)
    head: bytes = b""  # tail: the first HEAD bytes as consumed
    anchor: bytes = b""  # tail: the HEAD bytes before offset
    restart: bool = False  # tail: the next piece starts the file over
    handed: tuple[int, int] | None = None  # whole: (size, mtime_ns) last handed to ingest
    format: str | None = None
    pending: tuple[Any, int, int, bytes, bytes] | None = None  # sha, lines, end, head, anchor


@dataclass(slots=True)
class Poll:
    """One look at the watched paths: files to ingest whole, pieces to append, files still waiting."""

    whole: list[str] = field(default_factory=list)
    pieces: list[Appended] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    vanished: int = 0


class Follower:
    """The state of every watched file between polls (in memory; the offsets live in the workspace)."""

    def __init__(self, roots: Sequence[Path], exclude: set[Path], settle: float) -> None:
        self.roots = [Path(r) for r in roots]
        self.exclude = {p.resolve() for p in exclude}
        self.settle = settle
        self.files: dict[str, _File] = {}
        self.known: dict[str, Known] = {}

    def load(self, known: dict[str, Known]) -> None:
        """What the workspace recorded as ingested: where tail files resume, which files are done."""
        self.known = dict(known)

    def paths(self) -> Iterator[Path]:
        """Every file under the roots now, hidden and temporary names skipped, workspace files too."""
        seen: set[Path] = set()
        for root in self.roots:
            try:
                found = expand([root])  # as `ingest` walks a folder: sorted, symlinked folders skipped
            except InputError:  # a root that is gone (an unmounted share) comes back at a later poll
                continue
            for p, _ in found:
                if p not in seen and p not in self.exclude and not p.name.endswith(TEMP_SUFFIXES):
                    seen.add(p)
                    yield p

    def poll(self, now: float | None = None) -> Poll:
        """What changed since the last poll, as work for ``ingest`` and ``ingest_appended``."""
        now = time.time() if now is None else now
        out = Poll()
        present: set[str] = set()
        for p in self.paths():
            name = str(p)
            present.add(name)
            try:
                st = p.stat()
                self._look(name, p, st, now, out)
            except OSError:  # vanished or unreadable between listing and reading: next poll
                continue
        for gone in set(self.files) - present:
            del self.files[gone]
            out.vanished += 1
        return out

    def _look(self, name: str, p: Path, st: os.stat_result, now: float, out: Poll) -> None:
        f = self.files.get(name)
        if f is None:
            f = self.files[name] = _File()
        changed = (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns)
        stable = not changed or now - st.st_mtime_ns / 1e9 >= self.settle
        rotated = f.ino not in (-1, st.st_ino)
        f.size, f.mtime_ns, f.ino = st.st_size, st.st_mtime_ns, st.st_ino
        if f.mode is None:
            f.mode = _kind(p, stable)
            if f.mode is None:
                out.waiting.append(name)
                return
            self._resume(name, p, f, st)
        if f.mode == "whole":
            if f.handed == (st.st_size, st.st_mtime_ns):
                return
            if stable:
                out.whole.append(name)
            else:
                out.waiting.append(name)
        elif f.mode == "tail":
            if rotated or st.st_size < f.offset or (changed and not _same_prefix(p, f)):
                _start_over(f)
            if st.st_size > f.offset:
                self._piece(name, p, f, stable, out)

    def _resume(self, name: str, p: Path, f: _File, st: os.stat_result) -> None:
        """A file seen for the first time in this process: pick up where the workspace left it."""
        k = self.known.get(name)
        f.format = k.format if k else None
        if f.mode == "whole":
            if k is not None and k.size == st.st_size and st.st_mtime_ns // 1_000_000 <= k.finished_ms:
                f.handed = (st.st_size, st.st_mtime_ns)  # not modified since it was ingested
            return
        _start_over(f)
        f.restart = k is not None  # a known file read from 0 again: forget its quarantine rows
        if k is None or st.st_size < k.size:
            return
        sha, lines = hashlib.sha256(), 0
        with p.open("rb") as fh:
            left = k.size
            while left:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    return
                sha.update(chunk)
                lines += chunk.count(b"\n")
                left -= len(chunk)
        if sha.hexdigest() == k.sha256:
            f.sha, f.offset, f.lines, f.restart = sha, k.size, lines, False
            f.head, f.anchor = _read(p, 0, min(HEAD, k.size)), _read(p, max(0, k.size - HEAD), k.size)

    def _piece(self, name: str, p: Path, f: _File, stable: bool, out: Poll) -> None:
        buf = _read(p, f.offset, min(f.size, f.offset + MAX_PIECE))
        cut = buf.rfind(b"\n") + 1
        if cut < len(buf) and f.offset + len(buf) == f.size and stable and _whole_object(buf[cut:]):
            cut = len(buf)  # a quiet last line without a line break that is a whole object
        if cut == 0:
            out.waiting.append(name)
            return
        data = buf[:cut]
        sha = f.sha.copy()
        sha.update(data)
        end = f.offset + cut
        head = f.head if len(f.head) >= HEAD else (f.head + data)[:HEAD]
        anchor = (f.anchor + data)[-HEAD:]
        f.pending = (sha, f.lines + data.count(b"\n"), end, head, anchor)
        out.pieces.append(Appended(name, data, f.lines + 1, end, sha.hexdigest(), f.restart, f.format))
        if cut < len(buf):
            out.waiting.append(name)

    def stored(self, name: str, status: str, fmt: str | None) -> None:
        """After ``ingest_appended`` committed: move a tail file's offset past its piece (ingested),
        or stop reading a file whose lines are no known format."""
        f = self.files.get(name)
        if f is None or f.pending is None:
            return
        if status == "ingested":
            f.sha, f.lines, f.offset, f.head, f.anchor = f.pending
            f.restart, f.format = False, fmt or f.format
        elif status in ("ignored", "unknown", "failed"):
            f.mode = "skip"
        f.pending = None

    def handed(self, names: Sequence[str]) -> None:
        """After ``ingest`` committed these whole files: do not hand them again until they change."""
        for name in names:
            f = self.files.get(name)
            if f is not None:
                f.handed = (f.size, f.mtime_ns)


def _start_over(f: _File) -> None:
    f.sha, f.offset, f.lines, f.head, f.anchor = hashlib.sha256(), 0, 0, b"", b""
    f.restart, f.pending = True, None


def _same_prefix(p: Path, f: _File) -> bool:
    """The first bytes and the bytes before the offset are those consumed (cheap: 8 KiB)."""
    if f.offset == 0:
        return True
    return _read(p, 0, len(f.head)) == f.head and _read(p, f.offset - len(f.anchor), f.offset) == f.anchor


def _kind(p: Path, stable: bool) -> str | None:
    """tail for plain JSONL, whole for anything else, None while the first line is still coming."""
    head = _read(p, 0, SNIFF)
    if head.startswith(_MAGIC):
        return "whole"
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    body = body.lstrip(b" \t\r\n")
    if not body:  # empty (a shipper created it and has not written yet): wait
        return None
    if not body.startswith(b"{"):
        return "whole"
    nl = body.find(b"\n")
    if nl < 0:
        return "whole" if stable or len(head) == SNIFF else None
    return "tail" if _whole_object(body[:nl]) else "whole"


def _whole_object(line: bytes) -> bool:
    line = line.strip()
    if not line.startswith(b"{"):
        return False
    try:
        msgspec.json.decode(line)
    except msgspec.DecodeError:
        return False
    return True


def _read(p: Path, start: int, end: int) -> bytes:
    if end <= start:
        return b""
    with p.open("rb") as fh:
        fh.seek(start)
        return fh.read(end - start)
