"""Score the prompts stored in a workspace into its `verdicts` table, incrementally.

Only events with prompt text and no verdict from the current model version are read, so a re-run
scores nothing new and a new model re-scores every prompt once (upsert on event_id). Rows stream
from a separate cursor in batches; each batch is written in its own transaction, so an interrupted
run keeps what it finished and the next run continues from there.

Verdicts are decided with the workspace's own thresholds when ``classify --calibrate`` stored some
for this model version (see ``thresholds``), else with the model's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ringbreaker.classify.model import ROUTING, Model
from ringbreaker.classify.thresholds import workspace_model
from ringbreaker.model import Verdict
from ringbreaker.workspace import guarded

if TYPE_CHECKING:
    import duckdb

BATCH = 5000
# A verdict's columns, then the run's: the upsert replaces them all.
_SET = ", ".join(
    f"{c} = excluded.{c}" for c in (*Verdict.column_map().values(), "model_version", "scored_at")
)
_UPSERT = (
    "INSERT INTO verdicts BY NAME SELECT *, ? AS model_version, now() AS scored_at FROM rb_verdict_batch "
    f"ON CONFLICT (event_id) DO UPDATE SET {_SET}"
)
_PENDING = """
    FROM events e
    WHERE e.prompt IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.event_id = e.id AND v.model_version = ?)
"""


@dataclass
class WorkspaceReport:
    """What one run did: prompts scored, by severity, and those already scored by this model; the
    thresholds it decided with, the labels among them the workspace calibrated, and the model
    versions whose stored thresholds it ignored."""

    model_version: str
    scored: int = 0
    already: int = 0
    severity: Counter[str] = field(default_factory=Counter)
    thresholds: dict[str, float] = field(default_factory=dict)
    calibrated: tuple[str, ...] = ()
    ignored_versions: tuple[str, ...] = ()
    routed: int = 0  # prompts the cascade's second stage re-scored (model.ROUTING)

    def to_dict(self) -> dict[str, object]:
        return {
            "model_version": self.model_version,
            "scored": self.scored,
            "already_scored": self.already,
            "severity": dict(sorted(self.severity.items())),
            "thresholds": self.thresholds,
            "calibrated": list(self.calibrated),
            "ignored_versions": list(self.ignored_versions),
            "routed": self.routed,
        }


def pending_count(con: duckdb.DuckDBPyConnection, model: Model) -> int:
    """Prompts without a verdict from this model version (what ``score_workspace`` would score)."""
    with guarded(con, "classify"):
        row = con.execute("SELECT count(*) " + _PENDING, [model.version]).fetchone()
    return int(row[0]) if row else 0


def score_workspace(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    *,
    batch: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
    calibrated: bool = True,
) -> WorkspaceReport:
    """Score every pending prompt of the workspace; `on_batch(n)` after each batch is stored.

    With ``calibrated`` (the default) the thresholds ``classify --calibrate`` stored for this model
    version decide the labels and severity, so a deployment's false-positive budget holds on every
    later run; ``calibrated=False`` keeps ``model.thresholds`` as given.
    """
    with guarded(con, "classify"):
        if not calibrated:
            return _score(con, model, batch, on_batch)
        model, applied = workspace_model(con, model)
        report = _score(con, model, batch, on_batch)
        report.calibrated = applied.calibrated
        report.ignored_versions = applied.ignored_versions
        return report


def _score(
    con: duckdb.DuckDBPyConnection, model: Model, batch: int, on_batch: Callable[[int], None] | None
) -> WorkspaceReport:
    import pyarrow as pa

    report = WorkspaceReport(model.version, thresholds=dict(model.thresholds))
    row = con.execute(
        "SELECT count(*) FROM verdicts v JOIN events e ON e.id = v.event_id WHERE v.model_version = ?",
        [model.version],
    ).fetchone()
    report.already = int(row[0]) if row else 0
    # Ids first (small), then each batch's prompts by a join: a result set left open while writing
    # on the same connection is not allowed, and prompts of millions of events need not sit in memory.
    pending = [
        r[0] for r in con.execute("SELECT e.id " + _PENDING + " ORDER BY e.id", [model.version]).fetchall()
    ]
    for start in range(0, len(pending), batch):
        con.register("rb_verdict_ids", pa.table({"id": pending[start : start + batch]}))
        chunk = con.execute(
            "SELECT e.id, e.prompt FROM events e JOIN rb_verdict_ids b ON b.id = e.id"
        ).fetchall()
        con.unregister("rb_verdict_ids")
        ids = [r[0] for r in chunk]
        verdicts = model.classify([r[1] for r in chunk])
        cols: dict[str, object] = {"event_id": ids}
        for name, col in Verdict.column_map().items():
            cols[col] = [getattr(v, name) for v in verdicts]
        cols["labels"] = pa.array([list(v.labels) for v in verdicts], type=pa.list_(pa.string()))
        con.register("rb_verdict_batch", pa.table(cols))
        con.execute("BEGIN")
        con.execute(_UPSERT, [model.version])
        con.execute("COMMIT")
        con.unregister("rb_verdict_batch")
        report.scored += len(ids)
        report.routed += ROUTING.routed
        report.severity.update(v.severity for v in verdicts)
        if on_batch is not None:
            on_batch(len(ids))
    return report
