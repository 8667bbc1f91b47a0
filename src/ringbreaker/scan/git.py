"""Git sources: every blob of every commit of every ref, and the staged index (pre-commit).

History is read with two git plumbing streams, so each blob is read and scanned exactly once:
``git log --all --reverse -c --raw`` names, oldest first, the commit that introduced every blob
(merges too, via the combined diff), and ``git cat-file --batch`` streams the blob contents.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ringbreaker import _git
from ringbreaker._git import discover_repos, is_repo
from ringbreaker.errors import InputError

__all__ = [
    "Introduction",
    "discover_repos",
    "introductions",
    "is_repo",
    "read_blobs",
    "staged_paths",
    "toplevel",
]

_LOG_FORMAT = "%x1e%H%x1f%an%x1f%ae%x1f%at%x1f%ct"
_SKIP_MODES = {b"160000", b"040000"}  # submodules, trees


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


def _utc(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat(timespec="seconds")


def introductions(repo: Path) -> dict[str, Introduction]:
    """Blob id -> its earliest introduction, over every ref (``--all``), oldest commit first."""
    out = _git.run(
        repo,
        "log",
        "--all",
        "--reverse",
        "-c",
        "--raw",
        "--no-renames",
        "--no-abbrev",
        "-z",
        f"--format={_LOG_FORMAT}",
    )
    intro: dict[str, Introduction] = {}
    for record in out.split(b"\x1e"):
        if not record:
            continue
        header, _, raw = record.partition(b"\0")
        commit, author, email, at, ct = header.decode("utf-8", "replace").split("\x1f")
        adate, cdate = _utc(at), _utc(ct)
        parts = raw.lstrip(b"\n\0").split(b"\0")  # merges: header then NUL NUL, others NUL LF
        for meta, path in zip(parts[0::2], parts[1::2], strict=False):
            if not meta.startswith(b":"):
                continue
            tokens = meta.lstrip(b":").split()
            shas = [t for t in tokens if len(t) in (40, 64)]
            modes = tokens[: tokens.index(shas[0])] if shas else []
            if not shas or (modes and modes[-1] in _SKIP_MODES) or shas[-1].strip(b"0") == b"":
                continue
            blob = shas[-1].decode()
            if blob not in intro:
                intro[blob] = Introduction(
                    blob, path.decode("utf-8", "surrogateescape"), commit, author, email, adate, cdate
                )
    return intro


def read_blobs(repo: Path, names: list[str], max_size: int) -> Iterator[tuple[str, bytes | None, int]]:
    """Stream (name, content, size) for object names or ``:path`` index entries through one
    ``git cat-file --batch``; content is None when missing or larger than ``max_size``."""
    proc = subprocess.Popen(
        _git.command(repo, "cat-file", "--batch"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        try:
            for name in names:
                stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            stdin.close()
        except BrokenPipeError:  # pragma: no cover - git died; the reader reports it
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for name in names:
            header = stdout.readline()
            if not header:
                raise InputError("git cat-file ended early", source=str(repo))
            fields = header.split()
            if len(fields) < 3 or fields[1] == b"missing":
                yield name, None, 0
                continue
            size = int(fields[2])
            if fields[1] != b"blob" or size > max_size:
                remaining = size + 1
                while remaining:
                    remaining -= len(stdout.read(min(remaining, 1 << 20)))
                yield name, None, size
                continue
            data = stdout.read(size)
            stdout.read(1)
            yield name, data, size
    finally:
        writer.join()
        proc.stdout.close()
        proc.wait()


def staged_paths(repo: Path) -> list[str]:
    """Paths added, copied, modified or renamed in the index (what a commit would record)."""
    out = _git.run(repo, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def toplevel(path: Path) -> Path:
    return Path(_git.run(path, "rev-parse", "--show-toplevel").decode().strip())
