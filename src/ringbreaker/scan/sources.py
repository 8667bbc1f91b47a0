"""Where bytes come from: directory walks (.gitignore aware), files, archives, notebooks.

Everything here yields *pieces* (display path, bytes, notebook cell) to the matcher and counts
what it had to skip in :class:`Stats`, so a scan never stops on one bad input: unreadable files,
symlink loops, binaries, oversize files, zip bombs and unsafe archive names are counted, reported
and passed over. Archive entries are read in memory and never written to disk.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import io
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import IO

import pathspec

from ringbreaker.scan.text import LegacyNotebook, NotANotebook, decode_wide, notebook_cells, wide_encoding

SNIFF = 8192
ARCHIVE_SUFFIXES = (
    ".zip",
    ".whl",
    ".jar",
    ".war",
    ".ear",
    ".egg",
    ".nupkg",
    ".apk",
    ".tar",
    ".tgz",
    ".tar.gz",
    ".tbz2",
    ".tar.bz2",
    ".txz",
    ".tar.xz",
    ".gz",
    ".bz2",
    ".xz",
)


@dataclass(frozen=True)
class ScanConfig:
    """Everything that shapes a scan, passed explicitly (no global settings)."""

    max_file_size: int = 25 * 1024 * 1024
    no_ignore: bool = False
    follow_symlinks: bool = False
    archives: bool = True
    archive_depth: int = 3
    archive_max_bytes: int = 100 * 1024 * 1024
    archive_max_ratio: float = 100.0
    engine: str = "auto"
    jobs: int = 0  # 0: one per core
    all_objects: bool = False  # history: every blob in the object store, not only those on a ref


@dataclass
class Stats:
    """Counters for the summary; every skip and error is counted, none is silent."""

    files: int = 0
    bytes: int = 0
    repos: int = 0
    commits: int = 0
    blobs: int = 0
    archives: int = 0
    archive_entries: int = 0
    decoded_utf16: int = 0
    decoded_utf32: int = 0
    notebooks_as_text: int = 0  # named .ipynb but not a well-formed notebook: scanned as raw text
    skipped_binary: int = 0
    skipped_large: int = 0
    skipped_ignored: int = 0
    skipped_symlinks: int = 0
    skipped_special: int = 0  # FIFOs, sockets, devices met while walking a directory
    unsafe_entries: int = 0
    suppressed_inline: int = 0
    suppressed_baseline: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        for f in fields(self):
            if f.name == "errors":
                self.errors.extend(other.errors)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def to_dict(self) -> dict[str, object]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["error_count"] = len(self.errors)
        return d


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes to scan and where they came from; ``cell`` for Jupyter notebook cells."""

    path: str
    data: bytes
    cell: int | None = None


# --------------------------------------------------------------------------- directory walks


def _ignore_spec(directory: Path) -> pathspec.GitIgnoreSpec | None:
    f = directory / ".gitignore"
    try:
        return pathspec.GitIgnoreSpec.from_lines(f.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return None


def walk(root: Path, cfg: ScanConfig, stats: Stats) -> Iterator[str]:
    """Regular files under ``root`` in a stable order, honouring .gitignore files (nested ones
    too, deepest wins) unless ``cfg.no_ignore``; ``.git`` directories are never entered.

    Paths are strings from ``os.scandir``: a ``Path`` per entry cost a fifth of a scan of a tree
    of small files."""
    if not root.is_dir():
        yield str(root)
        return
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, list[tuple[str, pathspec.GitIgnoreSpec]]]] = [(str(root), [])]
    while stack:
        directory, specs = stack.pop()
        try:
            st = os.stat(directory)
        except OSError as e:
            stats.error(directory, f"cannot read directory: {e.strerror or e}")
            continue
        if (st.st_dev, st.st_ino) in seen:
            stats.error(directory, "symlink loop: directory already visited")
            continue
        seen.add((st.st_dev, st.st_ino))
        if not cfg.no_ignore:
            spec = _ignore_spec(Path(directory))
            if spec is not None:
                specs = [*specs, (directory, spec)]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as e:
            stats.error(directory, f"cannot list directory: {e.strerror or e}")
            continue
        subdirs: list[str] = []
        for entry in entries:
            path = entry.path
            if entry.name == ".git":
                continue
            try:
                is_link = entry.is_symlink()
                if is_link and not cfg.follow_symlinks:
                    stats.skipped_symlinks += 1
                    continue
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError as e:
                stats.error(path, f"cannot stat: {e.strerror or e}")
                continue
            if not (is_dir or is_file):
                if is_link and not _exists(path):
                    stats.error(path, "broken symlink or symlink loop")
                else:  # a FIFO would block the scan, a device never end: passed over, counted
                    stats.skipped_special += 1
                continue
            if specs and _ignored(path, is_dir, specs):
                stats.skipped_ignored += 1
                continue
            if is_dir:
                subdirs.append(path)
            elif is_file:
                yield path
        stack.extend((d, specs) for d in reversed(subdirs))


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def special_kind(mode: int) -> str | None:
    """What a file that is neither regular nor a directory is (a name for the error), else None."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def _ignored(path: str, is_dir: bool, specs: list[tuple[str, pathspec.GitIgnoreSpec]]) -> bool:
    for base, spec in reversed(specs):  # the deepest .gitignore that has an opinion wins
        rel = os.path.relpath(path, base).replace(os.sep, "/") + ("/" if is_dir else "")
        result = spec.check_file(rel)
        if result.include is not None:
            return bool(result.include)
    return False


# --------------------------------------------------------------------------- content


def read_file(path: str | Path, display: str, cfg: ScanConfig, stats: Stats) -> Iterator[Piece]:
    """Read one file (bounded by ``max_file_size``) and expand it into pieces.

    Plain ``os`` calls sized by ``fstat``: on trees of small files, buffered reads sized by the
    limit cost more than the scan itself."""
    try:
        # O_NONBLOCK: a file swapped for a FIFO after the walk must not block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        stats.error(display, f"cannot read: {e.strerror or e}")
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            stats.error(display, "not a regular file")
            return
        if st.st_size > cfg.max_file_size:
            stats.skipped_large += 1
            return
        parts = [os.read(fd, st.st_size + 1)]
        size = len(parts[0])
        while size > st.st_size and size <= cfg.max_file_size:  # grew since fstat: read on, bounded
            more = os.read(fd, cfg.max_file_size + 1 - size)
            if not more:
                break
            parts.append(more)
            size += len(more)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
    except OSError as e:
        stats.error(display, f"cannot read: {e.strerror or e}")
        return
    finally:
        os.close(fd)
    if len(data) > cfg.max_file_size:
        stats.skipped_large += 1
        return
    stats.files += 1
    stats.bytes += len(data)
    yield from expand(display, data, cfg, stats, depth=0)


def expand(display: str, data: bytes, cfg: ScanConfig, stats: Stats, depth: int) -> Iterator[Piece]:
    """Archives become their entries, notebooks their cells, UTF-16 text UTF-8; binaries drop out."""
    lower = display.lower()
    if cfg.archives and depth < cfg.archive_depth:
        kind = _archive_kind(lower, data)
        if kind:
            stats.archives += 1
            try:
                yield from _archive(display, data, kind, cfg, stats, depth)
            except (
                zipfile.BadZipFile,
                tarfile.TarError,
                OSError,
                EOFError,
                ValueError,
                lzma.LZMAError,
                zlib.error,
            ) as e:
                stats.error(display, f"bad {kind} archive: {e}")
            return
    if lower.endswith(".ipynb"):
        try:
            cells = notebook_cells(data)
        except LegacyNotebook:  # IPython's old XML format: text, and nothing wrong with it
            stats.notebooks_as_text += 1
        except NotANotebook as e:  # never lose what a damaged notebook holds: read it as text
            stats.notebooks_as_text += 1
            stats.error(display, f"malformed notebook: {e}; scanned as text")
        else:
            for i, cell in enumerate(cells):
                yield Piece(display, cell, i)
            return
    head = data[:SNIFF]
    wide = wide_encoding(head)
    if wide is not None:
        codec, bom, family = wide
        if family == "utf-32":
            stats.decoded_utf32 += 1
        else:
            stats.decoded_utf16 += 1
        yield Piece(display, decode_wide(data, codec, bom))
        return
    if b"\0" in head:
        stats.skipped_binary += 1
        return
    yield Piece(display, data)


# --------------------------------------------------------------------------- archives


def _archive_kind(lower: str, data: bytes) -> str | None:
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "zip"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh") and lower.endswith((".bz2", ".tbz2", ".tbz")):
        return "bzip2"
    if data.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    return None


def _unsafe(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
_DECOMPRESS_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


def _bounded_decompress(data: bytes, kind: str, limit: int, where: str, stats: Stats) -> bytes | None:
    """Decompress every member (``cat a.gz b.gz`` is one valid gzip file; pigz and bgzip write
    many members, xz and bzip2 streams concatenate alike) up to ``limit`` bytes in all; None if
    the whole is longer (a bomb or just too big). Bytes after the last member that do not start
    another one (zero padding from tape tools) are ignored, as gzip(1) does; a damaged later
    member is reported and what came before it kept."""
    out = bytearray()
    rest = data
    while rest and len(out) <= limit:
        room = limit + 1 - len(out)
        d: zlib._Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor
        if kind == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif kind == "bzip2":
            d = bz2.BZ2Decompressor()
        else:
            d = lzma.LZMADecompressor()
        try:
            out += d.decompress(rest, room)
        except _DECOMPRESS_ERRORS as e:
            if not out:
                raise
            stats.error(where, f"damaged {kind} member after {len(out)} bytes: {e}; the rest skipped")
            break
        rest = d.unused_data
        if kind == "xz":
            rest = rest.lstrip(b"\0")  # stream padding between xz streams
        if not d.eof or not rest.startswith(_MAGIC[kind]):
            break
    return None if len(out) > limit else bytes(out)


def _archive(
    display: str, data: bytes, kind: str, cfg: ScanConfig, stats: Stats, depth: int
) -> Iterator[Piece]:
    if kind in ("gzip", "bzip2", "xz"):
        inner = _bounded_decompress(data, kind, cfg.archive_max_bytes, display, stats)
        if inner is None:
            stats.error(
                display,
                f"{kind} stream expands past {cfg.archive_max_bytes} bytes (decompression bomb?); skipped",
            )
            return
        if len(inner) > 1 << 20 and len(inner) > cfg.archive_max_ratio * max(len(data), 1):
            stats.error(
                display,
                f"expansion ratio {len(inner) / max(len(data), 1):.0f}x exceeds "
                f"{cfg.archive_max_ratio:.0f}x (decompression bomb?); skipped",
            )
            return
        if len(inner) > 262 and inner[257:262] == b"ustar":
            yield from _tar(display, inner, cfg, stats, depth)
        else:
            base = display.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
            name = base.rsplit(".", 1)[0] if "." in base else base
            stats.archive_entries += 1
            yield from expand(f"{display}!{name}", inner, cfg, stats, depth + 1)
        return
    if kind == "tar":
        yield from _tar(display, data, cfg, stats, depth)
        return
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = (
            (info.filename, info.file_size, info.compress_size, functools.partial(zf.open, info))
            for info in zf.infolist()
            if not info.is_dir()
        )
        yield from _entries(display, entries, cfg, stats, depth)


def _tar(display: str, data: bytes, cfg: ScanConfig, stats: Stats, depth: int) -> Iterator[Piece]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        entries = ((m.name, m.size, None, functools.partial(tf.extractfile, m)) for m in tf if m.isfile())
        yield from _entries(display, entries, cfg, stats, depth)


Entry = tuple[str, int, int | None, Callable[[], IO[bytes] | None]]


def _entries(
    display: str, entries: Iterable[Entry], cfg: ScanConfig, stats: Stats, depth: int
) -> Iterator[Piece]:
    """Expand archive entries in memory: each bounded by ``max_file_size``, the whole archive by
    ``archive_max_bytes``, a zip entry also by its expansion ratio; unsafe names are reported."""
    budget = cfg.archive_max_bytes
    for name, size, compressed, opener in entries:
        where = f"{display}!{name}"
        if _unsafe(name):
            stats.unsafe_entries += 1
            stats.error(where, "unsafe archive entry name (absolute or '..'); scanned in memory only")
        if size > cfg.max_file_size:
            stats.skipped_large += 1
            continue
        if compressed is not None and size > 1 << 20 and size > cfg.archive_max_ratio * max(compressed, 1):
            stats.error(where, f"expansion ratio {size / max(compressed, 1):.0f}x (zip bomb?); skipped")
            continue
        limit = min(cfg.max_file_size, budget)
        try:
            fh = opener()
            if fh is None:
                continue
            with contextlib.closing(fh):
                content = fh.read(limit + 1)
        except (
            zipfile.BadZipFile,
            tarfile.TarError,
            NotImplementedError,
            RuntimeError,
            OSError,
            zlib.error,
            EOFError,
        ) as e:
            stats.error(where, f"cannot read entry: {e}")
            continue
        if len(content) > limit:
            stats.error(where, "entry larger than declared or than the archive's budget (bomb?); skipped")
            if len(content) > budget:
                return
            continue
        budget -= len(content)
        stats.archive_entries += 1
        stats.bytes += len(content)
        yield from expand(where, content, cfg, stats, depth + 1)
        if budget <= 0:
            stats.error(display, f"archive expands past {cfg.archive_max_bytes} bytes; rest skipped")
            return
