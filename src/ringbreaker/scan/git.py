"""Git sources: every blob of every commit of every ref (or of the whole object store), and the
staged index (pre-commit).

History is read with git plumbing, so each blob is read and scanned exactly once:
``git cat-file --batch-all-objects --batch-check`` lists every object with its type and size (so
oversized blobs are skipped unread and work is split by bytes), ``git log --reverse -c --raw``
names, oldest first, the commit that introduced every blob (merges too, via the combined diff),
and each scanning process reads the blobs it was given through its own ``git cat-file --batch``
(:class:`BlobReader`): blob contents never pass through the process that enumerates them, and
memory stays bounded by the work in flight, not by the size of the history.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import re
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ringbreaker import _git
from ringbreaker._git import discover_repos, is_repo
from ringbreaker.errors import InputError

__all__ = [
    "BlobReader",
    "HistoryWalk",
    "Introduction",
    "ObjectStore",
    "discover_repos",
    "introductions",
    "is_repo",
    "is_shallow",
    "list_objects",
    "staged_paths",
    "toplevel",
]

_LOG_FORMAT = "%x1e%H%x1f%an%x1f%ae%x1f%at%x1f%ct"
_LOG_ARGS = ("-c", "--raw", "--no-renames", "--no-abbrev", "-z", f"--format={_LOG_FORMAT}")
_SKIP_MODES = {b"160000", b"040000"}  # submodules, trees
_CHUNK = 512  # commits per git log call when a damaged history is read piecewise
# Each history git process maps at most 8 MiB of pack at once (in 1 MiB windows) instead of the
# whole pack: the pages it touched stay in its RSS otherwise (ipython, 103 MB pack: cat-file
# 124 -> 43 MB, log 122 -> 47 MB, the same CPU time; the page cache still holds the pack). A 16 MiB
# delta base cache instead of 96: about 100 MB less for cat-file, 20 MB for log, 7% slower cat-file
# in pack order (ipython), where the recent bases are the ones needed; 8 MiB costs 20% more.
_LEAN = (
    "-c",
    "core.packedGitLimit=8m",
    "-c",
    "core.packedGitWindowSize=1m",
    "-c",
    "core.deltaBaseCacheLimit=16m",
)


@dataclass(frozen=True, slots=True)
class Introduction:
    """The commit that first brought a blob into the history, and the path it had there."""

    blob: str
    path: str
    commit: str
    author: str
    email: str
    author_date: str  # ISO 8601, UTC
    commit_date: str  # ISO 8601, UTC: when the blob became visible, the leak time


@dataclass(frozen=True)
class ObjectStore:
    """What a repository's object store holds: every blob with its size, and every commit."""

    blobs: dict[str, int]
    commits: list[str]


def _utc(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat(timespec="seconds")


_OBJECT = re.compile(rb"^([0-9a-f]+) (blob|commit) ([0-9]+)$", re.MULTILINE)


def list_objects(repo: Path, commits: bool = True) -> ObjectStore:
    """Every object in the store (packs, loose objects, alternates), reachable or not, in the
    order they lie in the packs: read in that order, git resolves deltas from its cache instead of
    unpacking the same bases again (ipython's 57k blobs: 2.8 s against 4.4 s in name order).
    ``commits``: list the commits too (the walk of ``--all-objects`` starts from them).

    Matched in place, not split into lines: 235k line objects (trees too) cost 20 MB of peak
    memory that the process kept for the rest of the scan."""
    args = [
        "cat-file",
        "--batch-all-objects",
        "--unordered",
        "--batch-check=%(objectname) %(objecttype) %(objectsize)",
    ]
    blobs: dict[str, int] = {}
    listed: list[str] = []
    for piece in _pieces(repo, args, None, b"\n"):
        for name, kind, size in _OBJECT.findall(piece):
            if kind == b"blob":
                blobs[name.decode()] = int(size)
            elif commits:
                listed.append(name.decode())
    return ObjectStore(blobs, listed)


def is_shallow(repo: Path) -> bool:
    """A shallow clone: commits before the graft point are not in the store."""
    return _git.run(repo, "rev-parse", "--is-shallow-repository").strip() == b"true"


# One raw diff line of ``git log --raw -z`` (``-c``: one mode and one id per parent, then the new
# ones): the new mode, the new blob id, the path. A C-level scan per commit instead of a Python
# split of every field: parsing ipython's 38k commits went from 1.7 s to 0.5 s.
_RAW = re.compile(
    rb":+(?:[0-7]{6} )*([0-7]{6}) "  # every mode; the last is the new one
    rb"(?:[0-9a-f]{64} |[0-9a-f]{40} )*([0-9a-f]{64}|[0-9a-f]{40}) "  # every id; the last is the new one
    rb"[^\0]*\0([^\0]*)\0"  # the status, the path
)
_NO_BLOB = (b"0" * 40, b"0" * 64)


class _Walk:
    """What the log said so far, kept small: each commit's raw header once, and for each blob its
    path (bytes) and the index of the commit that introduced it. :class:`Introduction` objects are
    made once, at the end (a newest-first walk would otherwise make one per blob per commit)."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.blobs: dict[bytes, tuple[bytes, int]] = {}
        self.fresh: list[tuple[bytes, bytes]] = []  # (blob, path) named for the first time, not yet taken
        self._paths: dict[bytes, bytes] = {}  # one object per distinct path (57k blobs, 6k paths)

    def parse(self, out: bytes, newest_first: bool = False) -> int:
        """Add the blobs each logged commit introduced (the earliest introduction wins: the first
        one seen, or with ``newest_first`` the last one); the commit count."""
        commits = 0
        blobs, heads, paths = self.blobs, self.heads, self._paths
        for record in out.split(b"\x1e"):
            if not record:
                continue
            commits += 1
            header, _, raw = record.partition(b"\0")
            ci = len(heads)
            heads.append(header)
            for mode, blob, path in _RAW.findall(raw):
                if mode in _SKIP_MODES or blob in _NO_BLOB:
                    continue
                if blob not in blobs:
                    shared = paths.setdefault(path, path)
                    self.fresh.append((blob, shared))
                    blobs[blob] = (shared, ci)
                elif newest_first:
                    blobs[blob] = (paths.setdefault(path, path), ci)
        return commits

    def take(self) -> list[tuple[str, str]]:
        """The blobs named for the first time since the last call, with the path named there."""
        out = [(b.decode(), p.decode("utf-8", "surrogateescape")) for b, p in self.fresh]
        self.fresh.clear()
        return out

    def introduction(self, blob: str, made: dict[int, tuple[str, str, str, str, str]]) -> Introduction | None:
        """The introduction of ``blob`` (None: no logged commit names it); ``made``: commits
        already decoded, shared between calls."""
        found = self.blobs.get(blob.encode())
        if found is None:
            return None
        path, ci = found
        c = made.get(ci)
        if c is None:
            commit, author, email, at, ct = self.heads[ci].decode("utf-8", "replace").split("\x1f")
            c = made[ci] = (commit, author, email, _utc(at), _utc(ct))
        return Introduction(blob, path.decode("utf-8", "surrogateescape"), *c)


def introductions(
    repo: Path, tips: Iterable[str] | None = None, warn: Callable[[str, str], None] | None = None
) -> tuple[dict[str, Introduction], int]:
    """Blob id -> its earliest introduction, oldest commit first, and the number of commits read
    (:class:`HistoryWalk` read to its end)."""
    walk = HistoryWalk(repo, tips, warn)
    for _ in walk.blobs():
        pass
    return walk.introductions(), walk.commits


class HistoryWalk:
    """The log of a repository's history, read once: :meth:`blobs` gives each blob as soon as the
    log first names it (newest commits first), so its scan starts while git is still walking;
    :meth:`introductions` then says, for every blob, the commit and path that first brought it in.

    ``tips``: start from these commits (every commit in the store, for ``--all-objects``) instead
    of every ref. A history that git cannot log whole (a tree or commit missing from the store) is
    read in chunks of commits, and a chunk that fails is halved until the one commit that cannot
    be read is skipped and reported through ``warn``: a missing object costs its commit, not the run.
    """

    def __init__(
        self, repo: Path, tips: Iterable[str] | None = None, warn: Callable[[str, str], None] | None = None
    ) -> None:
        self.repo, self.warn = repo, warn
        self.tips = None if tips is None else list(tips)
        self.commits = 0
        self._walk = _Walk()
        self._made: dict[int, tuple[str, str, str, str, str]] = {}

    def blobs(self) -> Iterator[list[tuple[str, str]]]:
        """Batches of (blob, path) pairs, each blob once, in the order the log first names them."""
        start = ["--stdin"] if self.tips is not None else ["--all"]
        stdin = None if self.tips is None else _lines(self.tips)
        walk = self._walk
        try:
            for n in _stream_log(self.repo, [*start, *_LOG_ARGS], stdin, walk):
                self.commits += n
                yield walk.take()
            return
        except InputError:  # read it again piecewise; what was given already is not given again
            given = walk.blobs
            self._walk = walk = _Walk()
            self.commits = 0
        for n in _chunked_log(self.repo, start, stdin, walk, self.warn):
            self.commits += n
            yield [(b, p) for b, p in walk.take() if b.encode() not in given]

    def introductions(self) -> dict[str, Introduction]:
        """Blob id -> its earliest introduction (once :meth:`blobs` has been read to its end)."""
        made: dict[int, tuple[str, str, str, str, str]] = {}
        out: dict[str, Introduction] = {}
        for blob, _ in self.paths():
            i = self._walk.introduction(blob, made)
            assert i is not None
            out[blob] = i
        return out

    def introduction(self, blob: str) -> Introduction | None:
        """One blob's introduction, made on demand: a history scan needs those of its hits only."""
        return self._walk.introduction(blob, self._made)

    def paths(self) -> Iterator[tuple[str, bytes]]:
        """(blob, the raw path of its introduction) for every blob the log named."""
        return ((b.decode(), p) for b, (p, _) in self._walk.blobs.items())

    def __contains__(self, blob: str) -> bool:
        return blob.encode() in self._walk.blobs


def _chunked_log(
    repo: Path, start: list[str], stdin: bytes | None, walk: _Walk, warn: Callable[[str, str], None] | None
) -> Iterator[int]:
    order = _git.run(repo, *_LEAN, "rev-list", *start, "--reverse", input=stdin).decode().split()
    pending = [order[i : i + _CHUNK] for i in range(0, len(order), _CHUNK)]
    while pending:
        chunk = pending.pop(0)
        try:
            out = _git.run(
                repo, *_LEAN, "log", "--no-walk=unsorted", "--stdin", *_LOG_ARGS, input=_lines(chunk)
            )
        except InputError as e:
            if len(chunk) == 1:
                if warn:
                    why = str(e).removeprefix(f"{repo}: ")
                    warn(f"{repo}@{chunk[0][:12]}", f"commit skipped, its objects cannot be read ({why})")
                continue
            half = len(chunk) // 2
            pending[:0] = [chunk[:half], chunk[half:]]
            continue
        yield walk.parse(out)  # oldest chunk first, each oldest first: the first seen wins


def _stream_log(repo: Path, args: list[str], stdin: bytes | None, walk: _Walk) -> Iterator[int]:
    """``git log ARGS`` newest first, parsed while git is still walking (``--reverse`` would make
    git hold everything back to the end); the commits of each piece parsed, as it is parsed."""
    for piece in _pieces(repo, ["log", *args], stdin, b"\x1e"):
        yield walk.parse(piece, newest_first=True)


def _pieces(repo: Path, args: list[str], stdin: bytes | None, sep: bytes) -> Iterator[bytes]:
    """The output of ``git ARGS`` (fed ``stdin``) as it comes, in pieces of about 1 MiB cut
    before a ``sep``: no whole copy of a large output is ever held (a 12 MB object listing read
    whole left 25 MB in the heap for the rest of the scan). InputError, after the last piece,
    when git fails."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                _git.command(repo, *_LEAN, *args),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        except OSError as e:
            raise InputError(f"cannot run git: {e.strerror or e}", source=str(repo)) from None
        assert isinstance(proc.stdout, io.BufferedReader)
        if stdin is not None:
            assert proc.stdin is not None
            feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
            feeder.start()
        pending = b""
        with proc:
            while chunk := proc.stdout.read1(1 << 20):
                pending += chunk
                cut = pending.rfind(sep)
                if cut > 0:
                    yield pending[:cut]
                    pending = pending[cut:]
            code = proc.wait()
        if code != 0:
            err.seek(0)
            msg = err.read().decode(errors="replace").strip().splitlines()
            raise InputError(f"git {args[0]} failed: {msg[-1] if msg else code}", source=str(repo))
        yield pending


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        pipe.write(data)
        pipe.close()


def _lines(names: Iterable[str]) -> bytes:
    return "".join(f"{n}\n" for n in names).encode("utf-8", "surrogateescape")


class BlobReader:
    """One ``git cat-file --batch`` process, asked for objects ahead of reading them.

    :meth:`ask` queues names; :meth:`answer` reads the next answer in order. Names are written
    to git only while those not yet answered stay under ``_AHEAD`` bytes, so neither pipe can fill
    while the other side waits (no deadlock, no writer thread), and git decompresses the next blobs
    while the caller scans the current one. The git process ends when :meth:`close` is called or,
    if its owner dies, when its stdin closes.
    """

    _AHEAD = 32 << 10  # bytes of names written but not answered: well under a pipe's 64 KiB
    _PIPE = 1 << 20  # room for git to run ahead on its output, where Linux allows it
    _BUFFER = 256 << 10  # our read buffer: many small blobs per read(2), not one 8 KiB piece each

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        try:
            self._proc = subprocess.Popen(
                _git.command(repo, *_LEAN, "cat-file", "--batch"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=self._BUFFER,
            )
        except OSError as e:
            raise InputError(f"cannot run git: {e.strerror or e}", source=str(repo)) from None
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._in: IO[bytes] = self._proc.stdin
        self._out: IO[bytes] = self._proc.stdout
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self._out.fileno(), fcntl.F_SETPIPE_SZ, self._PIPE)
        self._queued: deque[bytes] = deque()  # asked, not yet written to git
        self._sent: deque[int] = deque()  # lengths of names written, not yet answered
        self._in_flight = 0

    def ask(self, names: Iterable[str]) -> None:
        """Queue object names (or ``:path`` index entries) whose answers :meth:`answer` returns in order."""
        self._queued.extend(n.encode("utf-8", "surrogateescape") + b"\n" for n in names)
        self._send()

    def _send(self) -> None:
        out = []
        while self._queued and (not self._sent or self._in_flight + len(self._queued[0]) <= self._AHEAD):
            name = self._queued.popleft()
            out.append(name)
            self._sent.append(len(name))
            self._in_flight += len(name)
        if out:
            try:
                self._in.write(b"".join(out))
                self._in.flush()
            except BrokenPipeError:
                raise InputError("git cat-file ended early", source=str(self.repo)) from None

    def answer(self, max_size: int) -> tuple[bytes | None, int]:
        """(content, size) of the next asked object; content None when the object is missing
        (size 0), not a blob, or larger than ``max_size``."""
        if not self._sent:
            raise ValueError("answer() without a name asked")
        header = self._out.readline()
        if not header:
            raise InputError("git cat-file ended early", source=str(self.repo))
        self._in_flight -= self._sent.popleft()
        self._send()
        fields = header.split()
        if len(fields) < 3 or fields[-1] == b"missing":
            return None, 0
        size = int(fields[2])
        if fields[1] != b"blob" or size > max_size:
            remaining = size + 1
            while remaining:
                chunk = self._out.read(min(remaining, 1 << 20))
                if not chunk:
                    raise InputError("git cat-file ended early", source=str(self.repo))
                remaining -= len(chunk)
            return None, size
        data = self._out.read(size)
        self._out.read(1)
        if len(data) < size:
            raise InputError("git cat-file ended early", source=str(self.repo))
        return data, size

    def close(self) -> None:
        for f in (self._in, self._out):
            with contextlib.suppress(OSError):  # the pipe broke: git is ending anyway
                f.close()
        self._proc.wait()


def staged_paths(repo: Path) -> list[str]:
    """Paths added, copied, modified or renamed in the index (what a commit would record)."""
    out = _git.run(repo, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def toplevel(path: Path) -> Path:
    return Path(_git.run(path, "rev-parse", "--show-toplevel").decode().strip())
