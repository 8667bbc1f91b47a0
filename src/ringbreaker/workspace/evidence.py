"""The evidence store: every ingested source file kept as it came, named by the SHA-256 of its bytes.

Events cite their record by reference (``events.source_sha256`` + ``source_offset``) instead of
holding the record's JSON, so the workspace stays small and the record shown to an analyst is read
from the very bytes the provider wrote, checked against the hash the event cites (chain of
custody). The store is a directory, ``<workspace>.evidence/`` by default; the directory each blob
was put in is recorded in the workspace (table ``evidence``), so a store moved with ``--evidence``
is found again.

Layout: ``objects/ab/abcdef...`` (the first two hex digits fan the files out). A blob is written as
``tmp/<random>`` first and renamed into place, so a crash leaves a stray temporary file, never a
half-written blob under a hash name; putting the same bytes again finds the blob and changes
nothing. A copy is fsynced (bytes, then its directory) before it is used; a hard link is not (its
bytes are the source file's, already on disk): fsyncing each link's directory doubled the cost of
a put, 0.15 to 0.3 ms a file, on trees of thousands of small CloudTrail objects. A power loss right
after ingest may then lose a link whose events were committed: ``show`` says the file is missing,
and ``ingest --force`` of the source puts it back.

Same filesystem: a hard link (no copy, no extra space). The catch, which ``read`` exists for: a
hard link shares the file, so a source modified *in place* afterwards changes the blob too;
reading it back then fails its hash check and says so. Log shippers write new objects rather than
editing old ones, and appended lines (``watch``) are stored as their own blob, never linked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ringbreaker.errors import EvidenceError
from ringbreaker.model import CITED, Alert, Citation

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "CITED",
    "EvidenceError",
    "EvidenceStore",
    "Put",
    "cite",
    "default_dir",
    "has_citations",
    "sha256_file",
    "store_dir",
]

SUFFIX = ".evidence"
_HEX = re.compile("[0-9a-f]{64}")
_BLOCK = 1 << 20


def default_dir(workspace: str | os.PathLike[str]) -> Path:
    """``<workspace>.evidence`` beside the workspace file, resolved (the path the workspace records)."""
    w = Path(workspace).resolve()
    return w.with_name(w.name + SUFFIX)


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_BLOCK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Put:
    """A blob in the store: its hash, where it lies, and (when asked for) the bytes put."""

    sha256: str
    path: Path
    data: bytes | None = None


class EvidenceStore:
    """One evidence directory. Safe for several processes putting at once (ingest's parser workers):
    every write goes through a uniquely named temporary file and an atomic rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._root = os.fspath(root)
        self._tmp_dir: str | None = None
        self._dirs: set[str] = set()  # fan-out directories known to exist (one mkdir each, not one a put)

    def blob(self, sha256: str) -> Path:
        """Where the blob of this hash lies (whether or not it is there)."""
        if len(sha256) != 64 or not _HEX.fullmatch(sha256):
            raise EvidenceError(f"not a SHA-256 hex digest: {sha256!r}", source=str(self.root))
        return Path(self._blob(sha256))

    def _blob(self, sha256: str) -> str:
        # plain strings on the put path: pathlib cost ~40 us a put, a third of it, on small files
        return f"{self._root}/objects/{sha256[:2]}/{sha256}"

    def _tmp(self) -> str:
        if self._tmp_dir is None:  # once per store object: a directory of small files puts thousands
            self._tmp_dir = os.path.join(self._root, "tmp")
            os.makedirs(self._tmp_dir, exist_ok=True)
        return f"{self._tmp_dir}/{os.getpid()}-{secrets.token_hex(8)}"

    def put_file(self, path: str | os.PathLike[str], *, read: bool = False) -> Put:
        """Keep ``path`` in the store (hard link, else a copy) and return its hash, computed from the
        stored bytes themselves. ``read``: also return those bytes (ingest parses exactly what was
        hashed and kept, with one read of the file)."""
        tmp = self._tmp()
        try:
            os.link(path, tmp)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                raise
            try:
                return self._copy(path, tmp, read)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        try:
            if read:
                with open(tmp, "rb") as f:
                    data = f.read()
                sha = hashlib.sha256(data).hexdigest()
                return Put(sha, Path(self._place(tmp, sha, linked=True)), data)
            sha = sha256_file(tmp)
            return Put(sha, Path(self._place(tmp, sha, linked=True)))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _copy(self, path: str | os.PathLike[str], tmp: str, read: bool) -> Put:
        h = hashlib.sha256()
        kept: list[bytes] = []
        with open(path, "rb") as src, open(tmp, "wb") as out:
            while chunk := src.read(_BLOCK):
                h.update(chunk)
                out.write(chunk)
                if read:
                    kept.append(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = h.hexdigest()
        return Put(sha, Path(self._place(tmp, sha)), b"".join(kept) if read else None)

    def put_bytes(self, data: bytes) -> Put:
        """Keep bytes that exist nowhere else as a file (stdin, lines appended to a followed file)."""
        sha = hashlib.sha256(data).hexdigest()
        target = self._blob(sha)
        if os.path.isfile(target):
            return Put(sha, Path(target))
        tmp = self._tmp()
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return Put(sha, Path(self._place(tmp, sha)))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _place(self, tmp: str, sha: str, *, linked: bool = False) -> str:
        """Rename the temporary file to its hash name, unless that blob is already there (then the
        bytes are the same: putting is idempotent). A copy is made read-only, like the evidence it
        is; a hard link is left alone (its mode is the source file's own)."""
        target = self._blob(sha)
        if os.path.isfile(target):
            os.unlink(tmp)
            return target
        parent = target.rpartition("/")[0]
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        if not linked:
            with contextlib.suppress(OSError):
                os.chmod(tmp, 0o444)
        os.replace(tmp, target)
        if not linked:
            _fsync_dir(Path(parent))  # a copy's name durable with its (fsynced) bytes
        return target

    def read(self, sha256: str) -> bytes:
        """The blob's bytes, checked against its hash; EvidenceError naming the file otherwise."""
        target = self.blob(sha256)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise EvidenceError(
                "evidence file missing: the source file this event cites is not in the evidence store "
                "(restore the directory from a backup, or ingest the original file again)",
                source=str(target),
            ) from None
        except OSError as e:
            raise EvidenceError(f"cannot read evidence file: {e.strerror or e}", source=str(target)) from e
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise EvidenceError(
                f"evidence file does not match its hash (sha256 {got}): it was changed after it was "
                "ingested, so the records it holds cannot be vouched for",
                source=str(target),
            )
        return data


def _fsync_dir(d: Path) -> None:
    """Make a rename durable (POSIX: the directory entry is data too)."""
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def store_dir(con: duckdb.DuckDBPyConnection, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The evidence directory an ingest into ``con`` puts files in: ``explicit`` (``--evidence``),
    else the one the workspace recorded last, else ``<workspace>.evidence``; None for a workspace
    in memory (nowhere beside it to keep files: its records keep their JSON)."""
    if explicit is not None:
        return Path(explicit).resolve()
    row = con.execute("SELECT store FROM evidence ORDER BY added DESC LIMIT 1").fetchone()
    if row is not None:
        return Path(str(row[0]))
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    got = rows.fetchone()
    if not got or not got[0]:
        return None
    return default_dir(str(got[0]))


def cite(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts with their first CITED evidence events' citations (file hash + position), from
    one lookup of those ids in ``events``; an id no longer in events is left out."""
    wanted = sorted({e for a in alerts for e in a.event_ids[:CITED]})
    if not wanted:
        return list(alerts)
    rows = con.execute(
        "SELECT e.id, e.source_file, e.source_offset, "
        + ("e.source_sha256" if has_citations(con) else "NULL")
        + " FROM events e SEMI JOIN (SELECT unnest(?::VARCHAR[]) AS id) w ON w.id = e.id",
        [wanted],
    ).fetchall()
    found = {str(r[0]): Citation(str(r[0]), str(r[1]), r[2], r[3]) for r in rows}
    return [replace(a, citations=tuple(found[e] for e in a.event_ids[:CITED] if e in found)) for a in alerts]


def has_citations(con: duckdb.DuckDBPyConnection) -> bool:
    """A workspace opened read-only before migration 13 has no events.source_sha256."""
    got = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'events' AND column_name = 'source_sha256'"
    ).fetchone()
    return bool(got and got[0])
