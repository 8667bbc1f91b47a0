"""Fit the learned labels' thresholds to a deployment's own traffic (``classify --calibrate``).

The shipped thresholds hold a 1% false-positive rate on the benign data the model was calibrated
on; a deployment's users write other prompts, so its share flagged can be far higher. Its traffic
is unlabelled but mostly benign, so for each learned label (``bypass``, ``sexual``) the threshold
becomes the (1 - fpr) quantile of the label's scores over the workspace's prompts:

- **identical prompts count once** (a template an application sends all day must not set the
  threshold alone), so the quantile is over distinct prompt texts;
- **the quantile is the conservative one**: the smallest observed score at which at most ``fpr``
  of the distinct prompts are at or above it (scores have 4 decimals, so ties are common);
- **it is clamped** to ``[shipped * 0.5, max(shipped, 0.9)]``: traffic that carries an attack
  campaign cannot lift a threshold above the ceiling and hide the attacks, and very quiet
  traffic cannot sink it to where noise flags;
- **a minimum sample** (default 1,000 distinct prompts) or nothing is stored at all.

``real_person`` and ``minor`` are rule and lexicon scores with fixed meanings (a name matched, a
child term found), not probabilities of benign traffic, so their thresholds are never fitted.

Scores come from the verdicts already stored for the model version; prompts without one are scored
first, by ``score_workspace``. The fit and the re-derived verdicts (severity and labels from the
stored scores under the new thresholds) are written in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ringbreaker.classify.model import Model
from ringbreaker.classify.thresholds import (
    Rederived,
    applied,
    delete_thresholds,
    rederive,
    store_thresholds,
    transaction,
    with_thresholds,
)
from ringbreaker.classify.workspace import BATCH, score_workspace
from ringbreaker.errors import InputError, UsageError
from ringbreaker.model import ClassifyThreshold
from ringbreaker.workspace import guarded, path_of

if TYPE_CHECKING:
    import duckdb

CALIBRATED = ("bypass", "sexual")  # the learned labels whose scores mean "how unlike benign traffic"
FPR = 0.01
MIN_PROMPTS = 1000
FLOOR = 0.5  # lo = shipped * FLOOR
CEILING = 0.9  # hi = max(shipped, CEILING)
STEP = 1e-4  # the scores' resolution (4 decimals): "just above the highest score" is this much above


def bounds(shipped: float) -> tuple[float, float]:
    """The clamp ``(lo, hi)`` for a label shipped at ``shipped``: never below half of it (very
    quiet traffic must not make noise flag), never above ``max(shipped, 0.9)`` (attack-heavy
    traffic must not lift the threshold over what it should catch)."""
    return round(shipped * FLOOR, 6), max(shipped, CEILING)


def quantile(scores: npt.ArrayLike, fpr: float) -> float:
    """The conservative empirical (1 - fpr) quantile: the smallest observed score ``t`` with at
    most ``floor(fpr * n)`` of the ``n`` scores at or above it (when even the highest score is too
    many, one step above it). Labels use ``score >= threshold``, so this is the threshold that keeps
    the share flagged within ``fpr`` however many scores tie."""
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise ValueError("no scores")
    allowed = math.floor(fpr * s.size + 1e-9)
    if allowed >= s.size:
        return float(s[-1])
    pivot = s[allowed]  # the highest score that must stay below the threshold
    above = s[:allowed][s[:allowed] > pivot]
    return float(above.min()) if above.size else round(float(pivot) + STEP, 4)


@dataclass(frozen=True)
class Fit:
    """One label's calibration: the shipped threshold, the one in use before this run, the raw
    quantile, the clamp and the threshold kept, over ``n_prompts`` distinct prompts, with the share
    of those prompts at or above the previous and the new threshold."""

    label: str
    shipped: float
    previous: float
    quantile: float
    threshold: float
    lo: float
    hi: float
    n_prompts: int
    flagged_before: float
    flagged_after: float

    @property
    def clamped(self) -> str | None:
        """``lo`` or ``hi`` when the clamp moved the quantile, else None."""
        if self.quantile < self.lo:
            return "lo"
        if self.quantile > self.hi:
            return "hi"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "shipped": self.shipped,
            "previous": self.previous,
            "quantile": self.quantile,
            "threshold": self.threshold,
            "clamped": self.clamped,
            "lo": self.lo,
            "hi": self.hi,
            "n_prompts": self.n_prompts,
            "flagged_before": self.flagged_before,
            "flagged_after": self.flagged_after,
        }


def fit_label(label: str, scores: npt.ArrayLike, fpr: float, shipped: float, previous: float) -> Fit:
    """Fit one label's threshold to ``scores`` (one per distinct prompt) for budget ``fpr``."""
    arr = np.asarray(scores, dtype=np.float64)
    q = quantile(arr, fpr)
    lo, hi = bounds(shipped)
    th = round(min(max(q, lo), hi), 6)
    n = int(arr.size)
    return Fit(
        label=label,
        shipped=shipped,
        previous=previous,
        quantile=q,
        threshold=th,
        lo=lo,
        hi=hi,
        n_prompts=n,
        flagged_before=round(float((arr >= previous).sum()) / n, 6),
        flagged_after=round(float((arr >= th).sum()) / n, 6),
    )


@dataclass
class CalibrationReport:
    """What ``calibrate`` or ``reset_calibration`` did (``action``), for the CLI's summary and
    json: the sample, the fits, the stored verdicts re-derived, the thresholds now in use."""

    action: str  # calibrate | reset
    model_version: str
    workspace: str
    thresholds: dict[str, float]
    fpr: float | None = None
    min_prompts: int | None = None
    n_events: int = 0
    n_prompts: int = 0
    scored: int = 0
    reused: int = 0
    fits: list[Fit] = field(default_factory=list)
    removed: int = 0
    rederived: Rederived = field(default_factory=Rederived)
    ignored_versions: tuple[str, ...] = ()
    created_at: datetime | None = None

    def run(self) -> dict[str, Any]:
        """The run's fields (everything but the per-label fits)."""
        return {
            "action": self.action,
            "model_version": self.model_version,
            "workspace": self.workspace,
            "fpr": self.fpr,
            "min_prompts": self.min_prompts,
            "n_events": self.n_events,
            "n_prompts": self.n_prompts,
            "scored": self.scored,
            "reused": self.reused,
            "removed": self.removed,
            "verdicts": self.rederived.verdicts,
            "severity_changed": self.rederived.severity_changed,
            "labels_changed": self.rederived.labels_changed,
            "severity": dict(sorted(self.rederived.severity.items())),
            "thresholds": self.thresholds,
            "ignored_versions": list(self.ignored_versions),
            "created_at": self.created_at.isoformat().replace("+00:00", "Z") if self.created_at else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """One document (``--format json``): the run's fields and ``labels``, one object per fit."""
        return {**self.run(), "labels": [f.to_json() for f in self.fits]}

    def lines(self) -> list[dict[str, Any]]:
        """``--format jsonl``: one object per fitted label, each with the run's fields too (a reset
        fits nothing: one line with the run's fields and ``label`` null)."""
        if not self.fits:
            return [{**self.run(), "label": None}]
        return [{**self.run(), **f.to_json()} for f in self.fits]


def _sample(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    rows = con.execute(
        "SELECT count(*), count(DISTINCT prompt) FROM events WHERE prompt IS NOT NULL"
    ).fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def _scores(con: duckdb.DuckDBPyConnection, version: str) -> dict[str, npt.NDArray[np.float64]]:
    """One score per distinct prompt text and calibrated label (identical texts score the same)."""
    cols = ", ".join(f"max(v.{k}) AS {k}" for k in CALIBRATED)
    got = con.execute(
        f"SELECT {cols} FROM events e JOIN verdicts v ON v.event_id = e.id "
        "WHERE e.prompt IS NOT NULL AND v.model_version = ? GROUP BY e.prompt",
        [version],
    ).fetchnumpy()
    return {k: np.asarray(got[k], dtype=np.float64) for k in CALIBRATED}


def calibrate(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    *,
    fpr: float = FPR,
    min_prompts: int = MIN_PROMPTS,
    batch: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> CalibrationReport:
    """Fit ``bypass`` and ``sexual`` thresholds of ``model`` (its own thresholds are the shipped
    ones) to the workspace's prompts, store them and re-derive the stored verdicts.

    Raises InputError, storing and scoring nothing, when the workspace has fewer than
    ``min_prompts`` distinct prompts: a quantile of a small sample would be noise.
    """
    if not 0 < fpr < 1:
        raise UsageError(f"--fpr must be between 0 and 1 (exclusive), not {fpr}")
    source = path_of(con)
    with guarded(con, "classify --calibrate"):
        n_events, n_prompts = _sample(con)
        if n_prompts < min_prompts:
            raise InputError(
                f"calibration needs at least {min_prompts:,} distinct prompts (--min-prompts) and the "
                f"workspace has {n_prompts:,} (in {n_events:,} events with a prompt); nothing stored",
                source=source,
            )
        before = applied(con, model)
        scoring = score_workspace(con, model, batch=batch, on_batch=on_batch)
        scores = _scores(con, model.version)
        fits = [fit_label(k, scores[k], fpr, model.thresholds[k], before.thresholds[k]) for k in CALIBRATED]
        now = datetime.now(UTC)
        rows = [
            ClassifyThreshold(
                model.version, f.label, f.threshold, f.shipped, fpr, f.n_prompts, f.quantile, now
            )
            for f in fits
        ]
        new = with_thresholds(model, {f.label: f.threshold for f in fits})
        with transaction(con):
            store_thresholds(con, rows)
            done = rederive(con, new)
    return CalibrationReport(
        action="calibrate",
        model_version=model.version,
        workspace=source,
        thresholds=dict(new.thresholds),
        fpr=fpr,
        min_prompts=min_prompts,
        n_events=n_events,
        n_prompts=n_prompts,
        scored=scoring.scored,
        reused=scoring.already,
        fits=fits,
        rederived=done,
        ignored_versions=before.ignored_versions,
        created_at=now,
    )


def reset_calibration(con: duckdb.DuckDBPyConnection, model: Model) -> CalibrationReport:
    """Delete every stored threshold (all model versions) and re-derive the verdicts of ``model``
    with its own thresholds, in one transaction."""
    source = path_of(con)
    with guarded(con, "classify --calibrate --reset"), transaction(con):
        removed = delete_thresholds(con)
        done = rederive(con, model)
    return CalibrationReport(
        action="reset",
        model_version=model.version,
        workspace=source,
        thresholds=dict(model.thresholds),
        removed=removed,
        rederived=done,
    )
