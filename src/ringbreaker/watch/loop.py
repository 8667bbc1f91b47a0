"""The watch loop: follow the paths, ingest, classify, detect, queue new or grown alerts, deliver.

A loop over the stages' library calls (``ingest``/``ingest_appended``, ``score_workspace``,
``detect``), not a second pipeline. Each step opens the workspace, does its work and closes it
again, so other tools (``serve``'s snapshot, ``attribute``, ``case``) can open the file between
steps; a workspace another process holds is retried at the next poll. Deliveries run with the
workspace closed. ``stop`` (set by SIGINT/SIGTERM) is checked between steps, never inside one: a
step's writes are transactions, and a kill at any point leaves the workspace and the state file
consistent (see ``follow`` and ``state``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import InputError, WorkspaceError
from ringbreaker.ingest import IngestConfig, ingest, ingest_appended
from ringbreaker.watch.follow import Follower, Known, Poll
from ringbreaker.watch.redact import redact_doc
from ringbreaker.watch.sinks import DeliveryFailed, Sink
from ringbreaker.watch.state import Entry, SinkState, State
from ringbreaker.workspace import open_workspace, resolve

if TYPE_CHECKING:
    import duckdb

    from ringbreaker.classify import Model
    from ringbreaker.model import Alert
    from ringbreaker.rules.detections import DetectionRule


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """How to watch: the paths, the workspace, the cadence, and delivery's retry policy."""

    paths: tuple[Path, ...]
    workspace: Path | None = None
    interval: float = 15.0  # seconds between detect runs (when something new was stored)
    poll: float = 2.0  # seconds between looks at the paths
    settle: float = 2.0  # a file unmodified this long is complete
    once: bool = False
    ingest: IngestConfig = field(default_factory=IngestConfig)
    classify: bool = True
    retries: int = 5  # --once: failed attempts per sink before giving up (the alert stays queued)
    retry_base: float = 1.0  # first backoff delay, doubled per consecutive failure
    max_backoff: float = 300.0
    skip_existing: bool = False  # a sink's first run: mark the alerts already there as sent


@dataclass(slots=True)
class Totals:
    """What the loop did so far (the summary line, and what ``--once`` exits by)."""

    events: int = 0
    quarantined: int = 0
    files: int = 0
    scored: int = 0
    detects: int = 0
    queued: int = 0
    delivered: int = 0
    failures: int = 0
    worst: int = -1  # highest severity rank among the alerts of the last detect run
    undelivered: int = 0


class Watch:
    """One watch run over a workspace; ``run`` returns when ``stop`` is set or, with ``once``, when
    everything there is has been ingested, detected and (as far as the sinks allow) delivered."""

    def __init__(
        self,
        cfg: WatchConfig,
        rules: Sequence[DetectionRule],
        sinks: Sequence[Sink],
        *,
        note: Callable[[str], None] = lambda _: None,
        stop: threading.Event | None = None,
        model: Callable[[], Model] | None = None,
    ) -> None:
        self.cfg = cfg
        self.rules = list(rules)
        self.sinks = list(sinks)
        self.note = note
        self.stop = stop or threading.Event()
        self.workspace = resolve(cfg.workspace)
        own = [self.workspace, self.workspace.with_name(self.workspace.name + ".wal")]
        own += [self.workspace.with_name(self.workspace.name + s) for s in (".watch.json", ".watch.lock")]
        self.follower = Follower(cfg.paths, set(own), cfg.settle)
        self.totals = Totals()
        self.latest: dict[str, Alert] = {}  # the last detect run's alerts, by id
        self._model_factory = model
        self._model: Model | None = None
        self._loaded = False
        self._dirty = True  # something new since the last detect (the first step always detects)
        self._last_detect = float("-inf")
        self._busy_noted = False
        self._fresh: set[str] = set()  # sinks with no state before this run (for skip_existing)

    # ------------------------------------------------------------------ the loop

    def run(self) -> Totals:
        state = State.open(self.workspace)
        try:
            self._fresh = {s.key for s in self.sinks if s.key not in state.sinks}
            for s in self.sinks:
                state.sink(s.key, s.label)
            while not self.stop.is_set():
                self.step(state)
                if self.cfg.once:
                    self._drain(state)
                    break
                self.deliver(state)
                self.stop.wait(self.cfg.poll)
            self.totals.undelivered = sum(  # queued alerts that the rules in use still raise
                e.pending and a in self.latest
                for s in self.sinks
                for a, e in state.sinks[s.key].alerts.items()
            )
            return self.totals
        finally:
            state.close()
            for s in self.sinks:
                s.close()

    def step(self, state: State) -> None:
        """One look at the paths: ingest what is new, then classify and detect when due. The
        workspace is opened only when there is something to do (the first look needs it too)."""
        poll = self._look() if self._loaded else None
        if poll is not None and not (poll.pieces or poll.whole or self._detect_due()):
            return
        try:
            con = open_workspace(self.workspace)
        except WorkspaceError as e:
            if self.cfg.once or "lock" not in str(e).lower():
                raise
            if not self._busy_noted:
                self.note(f"workspace busy (another process holds it); retrying every {self.cfg.poll:g}s")
                self._busy_noted = True
            return
        self._busy_noted = False
        try:
            if poll is None:
                self.follower.load(_known(con))
                self._loaded = True
                poll = self._look()
            self._ingest(con, poll)
            if self.stop.is_set() and not self.cfg.once:
                return
            if self._detect_due():
                self._detect(con, state)
        finally:
            con.close()

    def _detect_due(self) -> bool:
        if self.cfg.once:
            return self.totals.detects == 0
        return self._dirty and time.monotonic() - self._last_detect >= self.cfg.interval

    def _look(self) -> Poll:
        poll = self.follower.poll()
        if self.cfg.once and poll.waiting and not self.stop.is_set():  # still being written: settle, once
            self.stop.wait(min(self.cfg.settle, 5.0))
            poll = self.follower.poll()
        return poll

    def _ingest(self, con: duckdb.DuckDBPyConnection, poll: Poll) -> None:
        stored = quarantined = files = 0
        if poll.pieces:
            rep = ingest_appended(con, poll.pieces, self.cfg.ingest)
            for f in rep.files:
                self.follower.stored(f.path, f.status, f.format)
                if f.status != "ingested":
                    self.note(
                        f"{f.path}: {f.status} ({f.why or 'not a recognised log format'}); not followed"
                    )
            stored, quarantined, files = rep.total("stored"), rep.total("quarantined"), len(rep.files)
        whole = [p for p in poll.whole if Path(p).exists()]
        if whole:
            try:
                rep = ingest(con, whole, self.cfg.ingest, walked=True)
            except InputError as e:  # a file vanished between the look and the read: next poll
                self.note(f"skipped this poll: {e}")
            else:
                self.follower.handed(whole)
                stored += rep.total("stored")
                quarantined += rep.total("quarantined")
                files += sum(f.status == "ingested" for f in rep.files)
        if stored or quarantined:
            self._dirty = self._dirty or stored > 0
            self.totals.events += stored
            self.totals.quarantined += quarantined
            self.totals.files += files
            self.note(
                f"ingested {stored} event(s) from {files} file(s)"
                + (f", {quarantined} record(s) quarantined" if quarantined else "")
                + (f"; {len(poll.waiting)} file(s) still being written" if poll.waiting else "")
            )

    def _detect(self, con: duckdb.DuckDBPyConnection, state: State) -> None:
        from ringbreaker.detect import detect

        if self.cfg.classify and self._dirty:
            from ringbreaker.classify import default_model, score_workspace

            if self._model is None:
                self._model = (self._model_factory or default_model)()
            scored = score_workspace(con, self._model).scored
            self.totals.scored += scored
        result = detect(con, self.rules)
        self._last_detect, self._dirty = time.monotonic(), False
        self.totals.detects += 1
        self.totals.worst = result.worst()
        self.latest = {a.id: a for a in result.alerts}
        queued = self.enqueue(state, result.alerts)
        if queued:
            self.note(f"detect: {len(result.alerts)} alert(s), {queued} new or grown queued for delivery")

    # ------------------------------------------------------------------ delivery

    def enqueue(self, state: State, alerts: Sequence[Alert]) -> int:
        """Queue every new or grown alert for every sink; return how many (alert, sink) pairs."""
        queued = 0
        for sink in self.sinks:
            st = state.sinks[sink.key]
            baseline = self.cfg.skip_existing and sink.key in self._fresh
            for a in alerts:
                size = (a.count, len(a.event_ids), a.severity.rank)
                e = st.alerts.get(a.id)
                if e is None:
                    st.alerts[a.id] = Entry(1, *size, delivered=1 if baseline else 0)
                    queued += not baseline
                elif size[0] > e.count or size[1] > e.evidence or size[2] > e.rank:
                    e.revision += 1
                    e.count, e.evidence, e.rank = (
                        max(size[0], e.count),
                        max(size[1], e.evidence),
                        max(size[2], e.rank),
                    )
                    e.change = "grown"
                    queued += 1
            self._fresh.discard(sink.key)
        if queued or self.cfg.skip_existing:
            state.save()
        self.totals.queued += queued
        return queued

    def deliver(self, state: State, now: float | None = None) -> int:
        """Send what is queued to each sink not backing off; a failure pauses that sink (backoff)."""
        sent = 0
        for sink in self.sinks:
            st = state.sinks[sink.key]
            if (now or time.time()) < st.next_try:
                continue
            for alert_id, e in list(st.alerts.items()):
                if self.stop.is_set() and not self.cfg.once:
                    return sent
                alert = self.latest.get(alert_id)
                if not e.pending or alert is None:
                    continue
                try:
                    sink.send(payload(alert, e))
                except DeliveryFailed as fail:
                    self._failed(st, fail)
                    state.save()
                    break
                e.delivered = e.revision
                st.failures, st.next_try, st.last_error = 0, 0.0, ""
                state.save()
                sent += 1
        self.totals.delivered += sent
        return sent

    def _failed(self, st: SinkState, fail: DeliveryFailed) -> None:
        st.failures += 1
        delay = min(self.cfg.max_backoff, self.cfg.retry_base * 2 ** (st.failures - 1))
        delay *= random.uniform(0.8, 1.2)
        if fail.retry_after is not None:
            delay = max(delay, min(fail.retry_after, self.cfg.max_backoff))
        st.next_try, st.last_error = time.time() + delay, str(fail)
        self.totals.failures += 1
        self.note(f"delivery to {st.label} failed ({fail}); attempt {st.failures}, retrying in {delay:.1f}s")

    def _drain(self, state: State) -> None:
        """--once: deliver until nothing is queued or each sink with a queue failed ``retries`` times."""
        while True:
            self.deliver(state)
            waiting = [
                state.sinks[s.key]
                for s in self.sinks
                if any(e.pending and a in self.latest for a, e in state.sinks[s.key].alerts.items())
            ]
            waiting = [st for st in waiting if st.failures < self.cfg.retries]
            if not waiting or self.stop.is_set():
                return
            pause = min(st.next_try for st in waiting) - time.time()
            if pause > 0:
                self.stop.wait(pause)


def payload(alert: Alert, e: Entry) -> dict[str, Any]:
    """What a sink receives: the alert as ``detect --format jsonl`` prints it, plus ``revision`` and
    ``change`` (new | grown), with every credential the secret rules find shown as a preview."""
    doc: dict[str, Any] = redact_doc({**alert.to_json(), "revision": e.revision, "change": e.change})
    return doc


def _known(con: duckdb.DuckDBPyConnection) -> dict[str, Known]:
    rows = con.execute(
        "SELECT path, size, sha256, format, epoch_ms(finished_at) FROM ingested_files"
    ).fetchall()
    return {str(p): Known(int(n), str(s), str(f), int(t)) for p, n, s, f, t in rows}
