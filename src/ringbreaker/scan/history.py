"""Git history as scan units, streamed: blobs are scanned while git is still walking the log.

Why streamed: on a large history the log walk (git's diff of every commit against its parents,
and our parse of it) took a third of the wall time before the first blob was read. Now each blob
is handed to the workers as soon as the log first names it, newest commits first, under the path
it has there; the commit that *introduced* it (the oldest that names it, and its path there) is
known only when the walk ends, so the hits found meanwhile are attributed afterwards
(:meth:`Attribution.apply`). The path matters to the scan only through its kind (a notebook, a
``.bz2`` name); a blob whose introducing path is of another kind than the one it was scanned under
is scanned again under the right one, and the hits of its first scan are dropped.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ringbreaker.errors import InputError
from ringbreaker.scan import git
from ringbreaker.scan.scanner import Hit, Origin, Unit
from ringbreaker.scan.sources import ScanConfig, Stats

__all__ = ["Attribution", "history_units"]


_PLAIN = (False, False)


def _kind(path: str | bytes) -> tuple[bool, bool]:
    """What of a path changes how its bytes are scanned (see ``sources.expand``)."""
    lower = path.lower()
    if isinstance(lower, bytes):
        return lower.endswith(b".ipynb"), lower.endswith((b".bz2", b".tbz2", b".tbz"))
    return lower.endswith(".ipynb"), lower.endswith((".bz2", ".tbz2", ".tbz"))


@dataclass
class Attribution:
    """One repository's log walk, to attribute the hits of blobs scanned before it had ended.

    Held small for the whole scan (57k blobs): no per-blob object but the walk's own table; of
    the paths blobs were first scanned under, only the kinds that are not plain text."""

    repo: str
    top: str
    walk: git.HistoryWalk | None = None
    special: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # blob -> a non-plain kind
    origins: dict[str, Origin] = field(default_factory=dict)  # one per commit, shared

    def origin(self, i: git.Introduction) -> Origin:
        o = self.origins.get(i.commit)
        if o is None:
            o = self.origins[i.commit] = Origin(
                i.commit_date, i.commit, i.author, i.email, i.author_date, self.repo
            )
        return o

    @staticmethod
    def apply(hits: Iterable[Hit], attributions: Sequence[Attribution]) -> list[Hit]:
        """Hits with the introducing commit and path of their blob; those of a first scan under a
        path of the wrong kind dropped (the blob's second scan has them)."""
        by_repo = {a.repo: a for a in attributions}
        out: list[Hit] = []
        for h in hits:
            a = by_repo.get(h.origin.repo or "") if h.blob and h.origin.commit is None else None
            i = a.walk.introduction(h.blob or "") if a is not None and a.walk is not None else None
            if a is None or i is None or h.unit is None:  # not provisional, or no commit names it
                out.append(h)
                continue
            final = a.top + i.path
            if _kind(h.unit) != _kind(final):
                continue
            out.append(replace(h, path=final + h.path[len(h.unit) :], origin=a.origin(i)))
        return out


def history_units(
    paths: Sequence[Path], cfg: ScanConfig, stats: Stats, attributions: list[Attribution]
) -> Iterator[Unit]:
    """Every blob of every commit of every ref of every repository at or under ``paths``; with
    ``cfg.all_objects`` every blob in the object store, attributed to the commit that introduced
    it wherever one exists (also commits on no ref, such as those a force-push left behind).

    Units come while the log is read; each repository's :class:`Attribution` is appended to
    ``attributions`` as the walk starts and complete once its units have all been given."""
    for root in paths:
        if not root.exists():
            raise InputError("no such file or directory", source=str(root))
        repos = git.discover_repos(root)
        if not repos:
            raise InputError("not a git repository, and none found beneath it", source=str(root))
        for repo in repos:
            stats.repos += 1
            if git.is_shallow(repo):
                stats.error(
                    str(repo),
                    "shallow clone: commits before its cut are not in the object store and were not "
                    "scanned (git fetch --unshallow, then scan again)",
                )
            where = str(repo)
            a = Attribution(where, where.rstrip("/") + "/")  # a Path per blob costs 0.4 s per 57k
            attributions.append(a)
            yield from _repo_units(repo, a, cfg, stats)


def _repo_units(repo: Path, a: Attribution, cfg: ScanConfig, stats: Stats) -> Iterator[Unit]:
    with cf.ThreadPoolExecutor(1) as pool:  # the listing gives the sizes: large blobs are never read
        listing = pool.submit(git.list_objects, repo, cfg.all_objects)
        tips = listing.result().commits if cfg.all_objects else None  # --all-objects: walk them all
        walk = a.walk = git.HistoryWalk(repo, tips, stats.error)
        batches = walk.blobs()
        first = next(batches, [])  # the log's first piece, read and parsed while git lists objects
        store = listing.result()
    bare = Origin(repo=a.repo)
    limit = cfg.max_file_size
    for batch in itertools.chain([first], batches):
        for blob, path in batch:
            size = store.blobs.get(blob)
            if size is None:  # named by a tree, absent from the store: reported below
                continue
            if size > limit:
                stats.skipped_large += 1
                continue
            kind = _kind(path)
            if kind != _PLAIN:
                a.special[blob] = kind
            yield Unit(a.top + path, origin=bare, blob=blob, size=size)
    stats.commits += walk.commits
    for blob, raw in walk.paths():
        size = store.blobs.get(blob)
        if size is None:  # named by a tree, absent from the store: reported missing
            yield _final(a, blob, walk, None)
        elif size <= limit and _kind(raw) != a.special.get(blob, _PLAIN):
            stats.blobs -= 1  # introduced under a path of another kind: scanned again, counted once
            stats.bytes -= size
            yield _final(a, blob, walk, size)
    if cfg.all_objects:  # named by no commit: pack order, git reads the packs front to back
        for blob, size in store.blobs.items():
            if blob in walk:
                continue
            if size > limit:
                stats.skipped_large += 1
            else:
                yield Unit(f"{repo}@blob:{blob}", origin=bare, blob=blob, size=size)


def _final(a: Attribution, blob: str, walk: git.HistoryWalk, size: int | None) -> Unit:
    """A unit under its introducing path and commit (attributed already, so :meth:`Attribution.apply`
    leaves its hits as they are)."""
    i = walk.introduction(blob)
    assert i is not None
    return Unit(a.top + i.path, origin=a.origin(i), blob=blob, size=size or 0)
