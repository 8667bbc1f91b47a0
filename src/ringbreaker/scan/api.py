"""``scan()``: the one library call behind ``ringbreaker scan``, ``demo`` and the tests (files,
history or the index; confidence floor, baseline and workspace applied in one place)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from ringbreaker.errors import UsageError
from ringbreaker.model import Confidence, Finding
from ringbreaker.rules.loader import SecretRule, load_secret_rules
from ringbreaker.scan.history import Attribution, history_units
from ringbreaker.scan.owner import Inventory, read_baseline, write_baseline
from ringbreaker.scan.scanner import (
    Hit,
    Unit,
    file_units,
    run_units,
    staged_units,
    stdin_units,
    stream_hits,
    to_findings,
)
from ringbreaker.scan.sources import ScanConfig, Stats
from ringbreaker.workspace.aliases import Fill

CONFIDENCE = tuple(c.value for c in Confidence)  # ordered: --min-confidence keeps a finding at or above
Mode = Literal["files", "history", "staged"]
_NO_FILL = Fill()


class Progress(Protocol):
    """What a caller shows while a scan runs (the CLI: a spinner and a bar on a terminal)."""

    def reading(self) -> AbstractContextManager[object]:
        """Held while git history is read, before the number of units is known."""
        ...

    def scanning(self, total: int) -> AbstractContextManager[Callable[[int], None]]:
        """Held while ``total`` units are scanned; gives the callback that counts them done."""
        ...


@dataclass(frozen=True)
class ScanResult:
    """What a scan found. ``findings`` are the reported ones (at or above the confidence floor, not
    accepted by the baseline); ``accepted`` are those the baseline accepted, or wrote when
    ``baseline_written``. Both were stored in the workspace when one was given."""

    findings: tuple[Finding, ...]
    stats: Stats
    rules: tuple[SecretRule, ...]
    accepted: tuple[Finding, ...] = ()
    baseline_written: bool = False
    key_aliases: int = 0  # ids of the inventory's keys stored in the workspace
    fill: Fill = _NO_FILL  # what storing them (or the new findings) changed in the workspace's events

    def summary(self) -> dict[str, object]:
        """The counters of the JSON report and the stderr summary line."""
        return {
            **self.stats.to_dict(),
            "findings": len(self.findings),
            "key_aliases": self.key_aliases,
            "events_joined": self.fill.joined,
            "ambiguous_aliases": [f"{k} {a}" for k, a in self.fill.ambiguous],
        }


def scan(
    paths: Sequence[str | os.PathLike[str]],
    cfg: ScanConfig | None = None,
    rules: Sequence[SecretRule] | None = None,
    *,
    mode: Mode = "files",
    stdin: bytes | BinaryIO | None = None,
    owned: frozenset[str] = frozenset(),
    inventory: Inventory | None = None,
    min_confidence: str = "low",
    baseline: Path | None = None,
    update_baseline: bool = False,
    workspace: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    on_found: Callable[[Sequence[Finding]], None] | None = None,
) -> ScanResult:
    """Scan ``paths`` (and ``stdin``, when given) with ``rules`` (default: the built-in ones).

        ``mode``: ``files`` walks the paths (archives included), ``history`` reads every blob of every
        commit of the repositories at or under them, ``staged`` reads the git index (no paths: the
        current directory's repository). ``owned``: fingerprints of the caller's own keys, to which
    ``inventory`` (``load_inventory``) adds its keys; with ``workspace``, the inventory's key ids replace
    those stored from the same file and the events that name them get the key's fingerprint. With a
        ``baseline`` file that does not exist (or ``update_baseline``), every finding is written to it
        as accepted and none is reported; with one that exists, the findings it lists are not reported.
        With ``workspace``, every finding above the floor is stored there after the scan (so a scan that
        fails creates no workspace).

        ``stdin`` as a binary stream is read in chunks, in bounded memory; ``on_found`` then gets each
        chunk's new findings (above the floor, not in the baseline) as soon as they are found, before
        the whole result, so a caller can print them while the stream is still open.
    """
    if min_confidence not in CONFIDENCE:
        raise UsageError(f"unknown confidence {min_confidence!r}; one of: {', '.join(CONFIDENCE)}")
    cfg = cfg or ScanConfig()
    if inventory is not None:
        owned = owned | inventory.fingerprints
    rules = tuple(load_secret_rules() if rules is None else rules)
    stats = Stats()
    files = [Path(p) for p in paths]

    streamed: list[Hit] = []
    if stdin is not None and not isinstance(stdin, bytes):
        known = read_baseline(baseline) if baseline and baseline.exists() and not update_baseline else set()
        floor, shown = CONFIDENCE.index(min_confidence), set[str]()
        for chunk in stream_hits(rules, cfg, stdin, stats):
            streamed.extend(chunk)
            if on_found is not None:
                new = [
                    f
                    for f in to_findings(rules, chunk, Stats(), owned)
                    if f.id not in shown and f.id not in known and CONFIDENCE.index(f.confidence) >= floor
                ]
                shown.update(f.id for f in new)
                if new:
                    on_found(new)
        stdin = None
    units: list[Unit] = stdin_units(stdin) if stdin is not None else []
    attributions: list[Attribution] = []
    if mode == "history":  # scanned while the log is read: no count of units beforehand
        with progress.reading() if progress else nullcontext():
            hits, s = run_units(
                rules, cfg, itertools.chain(units, history_units(files, cfg, stats, attributions))
            )
        hits = Attribution.apply(hits, attributions)
    else:
        units.extend(staged_units(files, cfg, stats) if mode == "staged" else file_units(files, cfg, stats))
        with progress.scanning(len(units)) if progress and units else nullcontext() as advance:
            hits, s = run_units(rules, cfg, units, advance) if units else ([], Stats())
    stats.merge(s)
    hits = streamed + hits
    floor = CONFIDENCE.index(min_confidence)
    found = [f for f in to_findings(rules, hits, stats, owned) if CONFIDENCE.index(f.confidence) >= floor]

    reported, accepted, written = found, [], False
    if baseline and (update_baseline or not baseline.exists()):
        write_baseline(baseline, found)
        reported, accepted, written = [], found, True
    elif baseline:
        known = read_baseline(baseline)
        reported = [f for f in found if f.id not in known]
        accepted = [f for f in found if f.id in known]
        stats.suppressed_baseline += len(accepted)

    if workspace:
        from ringbreaker.workspace import guarded, open_workspace
        from ringbreaker.workspace.aliases import fill_key_fingerprints, store_aliases
        from ringbreaker.workspace.findings import upsert_findings

        con = open_workspace(workspace)
        try:
            with guarded(con, "storing findings"):
                upsert_findings(con, found)
            with guarded(con, "joining the inventory's key ids to events"):
                # after the findings: a temporary AWS key that leaked keeps its own fingerprint
                fill = (
                    store_aliases(con, inventory.source, inventory.aliases)
                    if inventory is not None
                    else fill_key_fingerprints(con)
                )
        finally:
            con.close()
        stored = len(inventory.aliases) if inventory is not None else 0
        return ScanResult(tuple(reported), stats, rules, tuple(accepted), written, stored, fill)
    return ScanResult(tuple(reported), stats, rules, tuple(accepted), written)
