"""``detect --engine spark``: the detection rules over a lake, with the DuckDB engine's alert ids.

The steps are the DuckDB engine's, on Spark: the context tables from the lake's distinct values
(``detect.context.context_tables``), each rule's SQL through ``spark.sql.to_spark``, hit rows with
times as epoch milliseconds or ISO text (``detect.runner.hit_query``'s contract), folded into
alerts by ``detect.runner.fold``, merged with the lake's stored alerts, cited from the lake's events
and written back as the lake's ``alerts`` table (``lake.replace_table``). Only hit rows and alert
rows come back to the driver; the events never do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringbreaker.detect import Draft, Result, context_tables, fold, merge_stored, run_rules
from ringbreaker.errors import RuleError, UsageError
from ringbreaker.model import Alert, Citation
from ringbreaker.rules.detections import DetectionRule
from ringbreaker.spark import lake as lakes
from ringbreaker.spark.sql import to_spark
from ringbreaker.workspace.context import Context
from ringbreaker.workspace.evidence import CITED

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_ISO = "yyyy-MM-dd'T'HH:mm:ss'Z'"  # strftime('%Y-%m-%dT%H:%M:%SZ'), what hit_query gives DuckDB


def _plain_row(value: Any) -> Any:
    """A collected Spark value as DuckDB's fetchall gives it: structs as dicts, nested timestamps
    as aware UTC datetimes (Spark hands back naive local times)."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _plain_row(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, list):
        return [_plain_row(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_row(v) for k, v in value.items()}
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return value


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def hit_frame(spark: SparkSession, rule: DetectionRule, since_ms: int) -> DataFrame:
    """The rule's hits on Spark, shaped as ``detect.runner.hit_query`` shapes them on DuckDB."""
    from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

    df = spark.sql(to_spark(rule.query))
    cols = []
    for f in df.schema.fields:
        q = _q(f.name)
        if f.name in ("first_time", "last_time"):
            # DuckDB's epoch_ms rounds the microseconds half up; unix_millis truncates
            cols.append(f"(unix_micros(CAST({q} AS TIMESTAMP)) + 500) DIV 1000 AS {q}")
        elif isinstance(f.dataType, TimestampType | TimestampNTZType | DateType):
            cols.append(f'date_format({q}, "{_ISO}") AS {q}')
        else:
            cols.append(q)
    return df.selectExpr(*cols).where(f"last_time >= {int(since_ms)}")


def _run_rule(spark: SparkSession, rule: DetectionRule, since_ms: int) -> tuple[list[Draft], int]:
    import sqlglot.errors
    from pyspark.errors import PySparkException

    try:
        df = hit_frame(spark, rule, since_ms)
        cols = df.columns
        rows = [[_plain_row(v) for v in r] for r in df.collect()]
    except sqlglot.errors.SqlglotError as e:
        raise RuleError(
            f"does not transpile to Spark SQL: {str(e).splitlines()[0]}", source=rule.source
        ) from e
    except PySparkException as e:
        raise RuleError(f"query failed on Spark: {str(e).splitlines()[0]}", source=rule.source) from e
    return fold(rule, cols, rows)


def prepare(spark: SparkSession, ctx: Context) -> None:
    """The context tables (ip_context, principal_context, account_owner, expected_models) as views,
    built by the DuckDB engine's function from the distinct values Spark gathers."""
    ips = [
        tuple(r)
        for r in spark.sql(
            "SELECT src_ip, min(src_asn), min(src_anonymizer) FROM events WHERE src_ip IS NOT NULL "
            "GROUP BY src_ip"
        ).collect()
    ]
    actors = [r[0] for r in spark.sql("SELECT DISTINCT actor FROM events WHERE actor IS NOT NULL").collect()]
    accounts = [
        r[0] for r in spark.sql("SELECT DISTINCT account FROM events WHERE account IS NOT NULL").collect()
    ]
    uses: list[Any] = []
    if ctx.models:
        uses = [
            tuple(r)
            for r in spark.sql(
                "SELECT DISTINCT actor, key_fingerprint, model FROM events WHERE model IS NOT NULL"
            ).collect()
        ]
    for name, table in context_tables(ctx, ips, actors, accounts, uses).items():
        spark.createDataFrame(table).createOrReplaceTempView(name)


def _stored(spark: SparkSession, ids: list[str]) -> list[tuple[Any, ...]]:
    if not ids:
        return []
    wanted = spark.createDataFrame([(i,) for i in ids], "id string")
    wanted.createOrReplaceTempView("_rb_wanted")
    rows = spark.sql(
        "SELECT a.id, unix_millis(a.first_time), unix_millis(a.last_time), a.count, a.event_ids, a.severity "
        "FROM alerts a LEFT SEMI JOIN _rb_wanted w ON w.id = a.id"
    ).collect()
    return [tuple(r) for r in rows]


def cite(spark: SparkSession, alerts: Sequence[Alert]) -> list[Alert]:
    """``workspace.evidence.cite`` over the lake's events: each alert's first evidence events'
    file hash and position (events the lake no longer holds are left out)."""
    wanted = sorted({e for a in alerts for e in a.event_ids[:CITED]})
    if not wanted:
        return list(alerts)
    spark.createDataFrame([(i,) for i in wanted], "id string").createOrReplaceTempView("_rb_cited")
    has_sha = "source_sha256" in spark.table("events").columns
    rows = spark.sql(
        "SELECT e.id, e.source_file, e.source_offset, "
        + ("e.source_sha256" if has_sha else "CAST(NULL AS STRING)")
        + " FROM events e LEFT SEMI JOIN _rb_cited w ON w.id = e.id"
    ).collect()
    found = {str(r[0]): Citation(str(r[0]), str(r[1]), r[2], r[3]) for r in rows}
    return [replace(a, citations=tuple(found[e] for e in a.event_ids[:CITED] if e in found)) for a in alerts]


def write_alerts(spark: SparkSession, lake: str, alerts: Sequence[Alert]) -> int:
    """The lake's ``alerts`` table with this run's alerts upserted by id (the others kept), in the
    table's own schema; ``first_detected`` kept from the stored row, as the DuckDB engine keeps it."""
    from pyspark.sql import functions as F

    old = spark.table("alerts")
    ids = [a.id for a in alerts]
    first = {r[0]: r[1] for r in _first_detected(spark, ids)}
    now = datetime.now(UTC)
    rows = []
    for a in alerts:
        row = {name: getattr(a, name) for name in Alert.column_map()}
        for f in ("first_time", "last_time"):
            row[f] = datetime.fromtimestamp(row[f] / 1000, UTC)
        row = {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}
        row["details"] = json.dumps(a.details, sort_keys=True)
        row["first_detected"] = first.get(a.id) or now
        row["last_detected"] = now
        rows.append(tuple(row.get(f.name) for f in old.schema.fields))
    new = spark.createDataFrame(rows, old.schema)
    kept = old.join(F.broadcast(spark.createDataFrame([(i,) for i in ids], "id string")), "id", "left_anti")
    lakes.replace_table(spark, lake, "alerts", kept.unionByName(new))
    return len(rows)


def _first_detected(spark: SparkSession, ids: list[str]) -> list[tuple[Any, ...]]:
    if not ids:
        return []
    spark.createDataFrame([(i,) for i in ids], "id string").createOrReplaceTempView("_rb_ids")
    return [
        tuple(r)
        for r in spark.sql(
            "SELECT a.id, a.first_detected FROM alerts a LEFT SEMI JOIN _rb_ids w ON w.id = a.id"
        ).collect()
    ]


def detect(
    spark: SparkSession,
    lake: str,
    rules: Sequence[DetectionRule],
    *,
    since: str | None = None,
    write: bool = True,
    context: Context | None = None,
    progress: Callable[[DetectionRule], None] | None = None,
) -> Result:
    """``detect.detect`` on Spark over ``lake``: the same alerts (ids, evidence, summaries)."""
    names = lakes.register(spark, lake)
    since_ms = 0
    if since is not None:
        got = spark.sql(f"SELECT unix_millis(CAST({_literal(since)} AS TIMESTAMP))").collect()[0][0]
        if got is None:
            raise UsageError(f"--since {since!r} is not a time (example: 2025-03-05T00:00:00Z)")
        since_ms = int(got)
    prepare(spark, context if context is not None else lakes.read_context(spark, names))
    result, drafts = run_rules(rules, lambda rule: _run_rule(spark, rule, since_ms), progress)
    merge_stored(drafts, _stored(spark, [d.id for d in drafts]), partial=since is not None)
    result.alerts = cite(spark, [d.freeze() for d in drafts])
    if write:
        result.written = write_alerts(spark, lake, result.alerts)
    result.alerts.sort(key=lambda a: (-a.severity.rank, a.first_time, a.rule))
    return result


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
