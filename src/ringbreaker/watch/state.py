"""What each sink was sent: ``<workspace>.watch.json``, beside the workspace, replaced atomically.

Why a file and not a workspace table: this is the follower's bookkeeping about the world outside
(which webhook acknowledged which revision of an alert), not evidence or a stage's result; it must
be written while the workspace is closed (watch holds the DuckDB file only during a step, so that
``serve``'s snapshot, ``attribute`` or ``case`` can open it between steps); and it stays out of the
schema contract. The ingest side needs no state of its own: a tail file's offset is
``ingested_files.size``, committed with the events (see ``follow``).

Per sink (keyed by a hash of its definition: a webhook URL is a secret and is never written) and per
alert: the latest revision queued, the alert's size at that revision (hits, evidence, severity rank)
and the revision the sink acknowledged. An alert is queued again (revision + 1) when it is new or
grew: more hits or evidence, or a higher severity. Written (write, fsync, rename, fsync the folder)
after every acknowledged delivery, so a SIGKILL loses at most the acknowledgement of the one
delivery in flight: that alert is sent again after a restart, with the same ``Idempotency-Key``.

A lock file (``<workspace>.watch.lock``, ``flock``) keeps a second watch off the same workspace.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ringbreaker.errors import UsageError, WorkspaceError

VERSION = 1


@dataclass(slots=True)
class Entry:
    """One alert for one sink."""

    revision: int  # the latest revision queued
    count: int  # the alert's hits at that revision
    evidence: int  # its evidence events
    rank: int  # its severity rank
    delivered: int = 0  # the revision the sink acknowledged (0: none)
    change: str = "new"  # what the queued revision is: new | grown

    @property
    def pending(self) -> bool:
        return self.delivered < self.revision


@dataclass(slots=True)
class SinkState:
    label: str  # what messages name it by (redacted: a webhook's scheme and host)
    alerts: dict[str, Entry] = field(default_factory=dict)
    failures: int = 0  # consecutive failed deliveries
    next_try: float = 0.0  # epoch seconds: no delivery before this (backoff)
    last_error: str = ""


def sink_key(definition: str) -> str:
    """A sink's key in the file: SHA-256 of its definition, so no URL token is ever stored."""
    return hashlib.sha256(definition.encode("utf-8")).hexdigest()[:16]


class State:
    """The state file, held under its lock from ``open`` to ``close``."""

    def __init__(self, path: Path, sinks: dict[str, SinkState], lock: int) -> None:
        self.path = path
        self.sinks = sinks
        self._lock = lock

    @classmethod
    def open(cls, workspace: Path) -> State:
        """Lock and read the state beside ``workspace`` (a missing file is an empty state)."""
        path = workspace.with_name(workspace.name + ".watch.json")
        lock_path = workspace.with_name(workspace.name + ".watch.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                "another `ringbreaker watch` is running on this workspace", source=str(lock_path)
            ) from None
        try:
            return cls(path, _load(path), fd)
        except BaseException:
            os.close(fd)
            raise

    def sink(self, key: str, label: str) -> SinkState:
        s = self.sinks.get(key)
        if s is None:
            s = self.sinks[key] = SinkState(label)
        s.label = label
        return s

    def save(self) -> None:
        """Replace the file atomically: a kill leaves the old state or the new one, never half."""
        doc = {
            "version": VERSION,
            "sinks": {
                k: {**{n: v for n, v in asdict(s).items() if n != "alerts"}, "alerts": _entries(s)}
                for k, s in self.sinks.items()
            },
        }
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dirfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def close(self) -> None:
        os.close(self._lock)


def _entries(s: SinkState) -> dict[str, list[Any]]:
    return {a: [e.revision, e.count, e.evidence, e.rank, e.delivered, e.change] for a, e in s.alerts.items()}


def _load(path: Path) -> dict[str, SinkState]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}, this ringbreaker reads {VERSION}")
        out: dict[str, SinkState] = {}
        for key, s in doc["sinks"].items():
            alerts = {
                a: Entry(int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), str(v[5]))
                for a, v in s["alerts"].items()
            }
            out[key] = SinkState(
                str(s["label"]), alerts, int(s["failures"]), float(s["next_try"]), str(s["last_error"])
            )
        return out
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise WorkspaceError(
            f"watch state file is damaged ({type(e).__name__}: {e}); move it away to send every alert again",
            source=str(path),
        ) from e
