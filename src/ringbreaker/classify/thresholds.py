"""A workspace's own decision thresholds (table ``classify_thresholds``) and what applies them.

``classify --calibrate`` appends one row per calibrated label and run; the latest row per (model
version, label) is the one in use, so the table doubles as the history of every fit. Rows fitted
for another model version are never applied: scores of a new model mean something else, so its
thresholds must be fitted again (the reports name the versions that were skipped).

Applying thresholds never touches the model itself: ``with_thresholds`` returns a copy of the
frozen ``Model`` with another ``thresholds`` mapping, and ``rederive`` recomputes the stored
verdicts' severity and labels from their stored scores, so the verdicts the detect stage reads
always agree with the thresholds in use.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ringbreaker.classify.model import LABELS, Model, decide
from ringbreaker.model import ClassifyThreshold

if TYPE_CHECKING:
    import duckdb

TABLE = ClassifyThreshold.TABLE
_COLUMNS = tuple(ClassifyThreshold.column_map().values())
_LATEST = f"""
    SELECT label, arg_max(threshold, created_at) FROM {TABLE}
    WHERE model_version = ? GROUP BY label ORDER BY label
"""
REDERIVE_BATCH = 100_000


@dataclass(frozen=True)
class Applied:
    """The thresholds a workspace run uses: the model's own, overridden by the workspace's.

    ``calibrated`` names the labels whose value came from the workspace (empty: all shipped);
    ``ignored_versions`` the model versions with stored thresholds that do not apply to this model.
    """

    thresholds: dict[str, float]
    calibrated: tuple[str, ...] = ()
    ignored_versions: tuple[str, ...] = ()


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the table exists (a workspace opened read-only is not migrated)."""
    # fetchall, not fetchone: DuckDB refuses `register` while a result is left unfinished
    rows = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [TABLE]).fetchall()
    return bool(rows and rows[0][0])


def stored_thresholds(con: duckdb.DuckDBPyConnection, model_version: str) -> dict[str, float]:
    """The latest calibrated threshold per label for ``model_version`` (empty when none is stored)."""
    if not _has_table(con):
        return {}
    return {str(k): float(v) for k, v in con.execute(_LATEST, [model_version]).fetchall()}


def other_versions(con: duckdb.DuckDBPyConnection, model_version: str) -> tuple[str, ...]:
    """Model versions other than ``model_version`` with stored thresholds: ignored, and said so."""
    if not _has_table(con):
        return ()
    rows = con.execute(
        f"SELECT DISTINCT model_version FROM {TABLE} WHERE model_version <> ? ORDER BY 1", [model_version]
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def with_thresholds(model: Model, thresholds: dict[str, float]) -> Model:
    """``model`` deciding with ``thresholds`` (only the labels it names change): a copy, since the
    model is frozen and shared by every caller of ``default_model``."""
    return dataclasses.replace(model, thresholds={**model.thresholds, **thresholds})


def applied(con: duckdb.DuckDBPyConnection, model: Model) -> Applied:
    """What a workspace run of ``model`` decides with: its thresholds, overridden by those stored
    for its version (labels the model does not know are skipped)."""
    stored = {k: v for k, v in stored_thresholds(con, model.version).items() if k in model.thresholds}
    return Applied(
        thresholds={**model.thresholds, **stored},
        calibrated=tuple(k for k in LABELS if k in stored),
        ignored_versions=other_versions(con, model.version),
    )


def workspace_model(con: duckdb.DuckDBPyConnection, model: Model) -> tuple[Model, Applied]:
    """``model`` with the workspace's thresholds applied, and what was applied."""
    a = applied(con, model)
    return (with_thresholds(model, a.thresholds) if a.calibrated else model), a


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around the block, rolled back when it raises. A failed rollback (a fatal
    error leaves the connection unusable) is suppressed, so the original error is the one reported."""
    import duckdb

    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def store_thresholds(con: duckdb.DuckDBPyConnection, rows: Sequence[ClassifyThreshold]) -> None:
    """Append fitted thresholds (inside the caller's transaction: a fit and the verdicts it
    re-derives are stored together or not at all)."""
    sql = f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
    for r in rows:
        con.execute(sql, [getattr(r, c) for c in _COLUMNS])


def delete_thresholds(con: duckdb.DuckDBPyConnection) -> int:
    """Remove every stored threshold, of every model version; return how many rows there were."""
    if not _has_table(con):
        return 0
    rows = con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()
    con.execute(f"DELETE FROM {TABLE}")
    return int(rows[0][0]) if rows else 0


@dataclass
class Rederived:
    """What ``rederive`` did: verdicts read, those whose severity changed, the severities after."""

    verdicts: int = 0
    severity_changed: int = 0
    labels_changed: int = 0
    severity: Counter[str] = dataclasses.field(default_factory=Counter)


def rederive(con: duckdb.DuckDBPyConnection, model: Model, *, batch: int = REDERIVE_BATCH) -> Rederived:
    """Recompute severity and labels of every verdict of ``model.version`` from its stored scores
    with ``model.thresholds``, writing back only the rows that change.

    Scores do not depend on thresholds, so nothing is scored again: a new threshold is one pass over
    the verdicts (keyset pages of ``batch`` rows; run it inside the caller's transaction).
    """
    import pyarrow as pa

    th = model.thresholds
    out = Rederived()
    select = (
        f"SELECT event_id, {', '.join(LABELS)}, severity, labels FROM verdicts "
        "WHERE model_version = ? AND (? IS NULL OR event_id > ?) ORDER BY event_id LIMIT ?"
    )
    last: str | None = None
    while True:
        rows = con.execute(select, [model.version, last, last, batch]).fetchall()
        if not rows:
            return out
        last = rows[-1][0]
        ids: list[str] = []
        severities: list[str] = []
        labels: list[list[str]] = []
        for event_id, *values, old_severity, old_labels in rows:
            scores = dict(zip(LABELS, (float(v) for v in values), strict=True))
            new, decided = decide(scores, th)
            new_labels = list(decided)
            out.severity[new] += 1
            out.severity_changed += new != old_severity
            if new != old_severity or new_labels != list(old_labels):
                out.labels_changed += new_labels != list(old_labels)
                ids.append(event_id)
                severities.append(str(new))
                labels.append(new_labels)
        out.verdicts += len(rows)
        if ids:
            con.register(
                "rb_rederived",
                pa.table(
                    {
                        "event_id": ids,
                        "severity": severities,
                        "labels": pa.array(labels, type=pa.list_(pa.string())),
                    }
                ),
            )
            con.execute(
                "UPDATE verdicts SET severity = b.severity, labels = b.labels FROM rb_rederived b "
                "WHERE verdicts.event_id = b.event_id"
            )
            con.unregister("rb_rederived")
