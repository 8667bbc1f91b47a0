"""Every workspace table as Parquet, for a data lake (Spark, Athena, Security Lake-style readers).

Layout of ``OUT``::

    OUT/events/source=<source_format>/day=YYYY-MM-DD/data_0.parquet   (Hive-style partitions)
    OUT/<table>/data.parquet                                           (every other table)

Types are Spark's: no unsigned integers (widened to the next signed type, ``UBIGINT`` to
``DECIMAL(20,0)``), timestamps in UTC microseconds (``TIMESTAMPTZ``; naive and nanosecond
timestamps are converted), lists and structs as they are. Each file's schema is checked after
writing, so a type Spark cannot read fails the export instead of the reader.

``events`` keeps every ringbreaker column (the Spark engine runs the same rule SQL over them) and
adds OCSF API Activity (class 6003, 1.1.0) columns from ``ringbreaker.workspace.ocsf``, the mapping
the ``ocsf`` ingest format reads: ``api.operation``, ``src_endpoint.ip``, ``actor.user.uid``, ... as
flat columns named by their OCSF path (ringbreaker's own ``actor`` column would clash with OCSF's
``actor`` object), plus ``class_uid``, ``activity_id``, ``type_uid``, ``status_id``,
``severity_id``, ``time_dt``, and ``unmapped.<column>`` for what OCSF has no attribute for (the key
fingerprint, tokens, end user, prompt). ``time`` is ringbreaker's (a UTC timestamp, not OCSF's epoch ms).

Atomic: everything is written under a hidden ``.OUT.partial-*`` beside ``OUT`` and renamed into
place at the end, so a killed export leaves no half ``OUT`` (a later export removes the leftover).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.errors import InputError, UsageError
from ringbreaker.workspace import guarded, ocsf

PARTITIONS = ("source", "day")


@dataclass(slots=True)
class TableReport:
    """One exported table: rows written, Parquet files, its directory, its partition columns."""

    table: str
    rows: int
    files: int
    path: str
    partitioned_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ExportReport:
    out: str
    tables: list[TableReport]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "tables": [t.to_dict() for t in self.tables],
            "seconds": round(self.seconds, 3),
        }


def spark_type(duckdb_type: str) -> str | None:
    """The type to cast a column of ``duckdb_type`` to for Spark, or None when it is fine as it is."""
    t = duckdb_type.upper()
    widen = {
        "UTINYINT": "SMALLINT",
        "USMALLINT": "INTEGER",
        "UINTEGER": "BIGINT",
        "UBIGINT": "DECIMAL(20,0)",
        "HUGEINT": "DECIMAL(38,0)",
        "UHUGEINT": "DECIMAL(38,0)",
        "TIMESTAMP": "TIMESTAMPTZ",
        "TIMESTAMP_NS": "TIMESTAMPTZ",
        "TIMESTAMP_S": "TIMESTAMPTZ",
        "TIMESTAMP_MS": "TIMESTAMPTZ",
        "TIME": "VARCHAR",
        "TIMETZ": "VARCHAR",
        "INTERVAL": "VARCHAR",
        "UUID": "VARCHAR",
        "JSON": "VARCHAR",
    }
    if t in widen:
        return widen[t]
    if t.endswith("[]") and (inner := spark_type(t[:-2])) is not None:
        return f"{inner}[]"
    return None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    cols = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
        "AND database_name = current_database() ORDER BY column_index",
        [table],
    ).fetchall()
    out = []
    for name, typ in cols:
        cast = spark_type(str(typ))
        out.append(f"{_q(name)}::{cast} AS {_q(name)}" if cast else _q(name))
    return out


def _activity_sql() -> str:
    """OCSF activity_id from the operation's verb (its last dotted or slashed segment)."""
    verb = "regexp_extract(operation, '([A-Za-z]+)$')"
    cases = " ".join(
        f"WHEN regexp_matches({verb}, '^({'|'.join(words)})') THEN {aid}"
        for aid, words in ocsf.ACTIVITY_VERBS
    )
    return f"CASE {cases} ELSE 99 END"


def ocsf_columns() -> list[str]:
    """SELECT items adding the OCSF API Activity columns to the events columns."""
    status = " ".join(f"WHEN {_lit(s)} THEN {i}" for s, i in ocsf.STATUS_IDS.items())
    items = [
        f"{ocsf.API_ACTIVITY}::INTEGER AS class_uid",
        "'API Activity' AS class_name",
        "6::INTEGER AS category_uid",
        "'Application Activity' AS category_name",
        f"({_activity_sql()})::INTEGER AS activity_id",
        f"({ocsf.API_ACTIVITY * 100}::BIGINT + ({_activity_sql()})) AS type_uid",
        "1::INTEGER AS severity_id",
        f"(CASE status {status} ELSE 0 END)::INTEGER AS status_id",
        "time AS time_dt",
        f"{_lit(ocsf.VERSION)} AS {_q('metadata.version')}",
        f"'ringbreaker' AS {_q('metadata.product.name')}",
        "CASE category WHEN 'management' THEN 'Management' WHEN 'data' THEN 'Data' ELSE category END AS "
        + _q("metadata.product.feature.name"),
        f"provider AS {_q('cloud.provider')}",
        f"account AS {_q('actor.user.account.uid')}",
        "CASE WHEN resource IS NOT NULL THEN [struct_pack(uid := resource)] END AS resources",
        "CASE WHEN model IS NOT NULL THEN json_object('modelId', model)::VARCHAR END AS "
        + _q("api.request.data"),
    ]
    items += [f"{_q(column)} AS {_q(path)}" for path, column in ocsf.FIELDS]
    items += [f"{_q(column)} AS {_q('unmapped.' + column)}" for column in ocsf.UNMAPPED]
    return items


def _clear_partials(out: Path) -> None:
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _check_types(root: Path) -> None:
    """Fail on a type Spark cannot read (a bug in ``spark_type``, not the user's input)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def bad(t: pa.DataType) -> bool:
        if pa.types.is_unsigned_integer(t):
            return True
        if pa.types.is_timestamp(t):
            return t.unit != "us" or t.tz is None
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return bad(t.value_type)
        if pa.types.is_struct(t):
            return any(bad(t.field(i).type) for i in range(t.num_fields))
        return False

    for path in root.rglob("*.parquet"):
        schema = pq.read_schema(path)
        wrong = [f"{f.name}: {f.type}" for f in schema if bad(f.type)]
        if wrong:
            raise RuntimeError(f"{path}: types Spark cannot read: {', '.join(wrong)}")


def export(
    con: duckdb.DuckDBPyConnection,
    out: str | os.PathLike[str],
    tables: Sequence[str] | None = None,
    *,
    on_table: Callable[[TableReport], None] | None = None,
) -> ExportReport:
    """Write the workspace's tables (all, or ``tables``) under ``out`` as Parquet; see the module."""
    started = time.monotonic()
    target = Path(out).absolute()
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise UsageError(f"{target} already exists; remove it or give another --out")
    if not target.parent.is_dir():
        raise InputError(f"no such directory: {target.parent}")
    with guarded(con, "export"):
        con.execute("SET TimeZone = 'UTC'")
        present = [
            str(n)
            for (n,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary "
                "AND database_name = current_database() ORDER BY table_name"
            ).fetchall()
        ]
        chosen = list(tables) if tables else present
        unknown = sorted(set(chosen) - set(present))
        if unknown:
            raise UsageError(f"no such table: {', '.join(unknown)}; the workspace has: {', '.join(present)}")
        _clear_partials(target)
        partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
        partial.mkdir()
        try:
            reports = [_write(con, partial, name, target) for name in chosen]
            _check_types(partial)
            if target.exists():
                target.rmdir()
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    for rep in reports:
        if on_table:
            on_table(rep)
    return ExportReport(str(target), reports, time.monotonic() - started)


def _write(con: duckdb.DuckDBPyConnection, root: Path, table: str, target: Path) -> TableReport:
    cols = _select(con, table)
    directory = root / table
    if table == "events":
        day = "strftime(time, '%Y-%m-%d')"
        sql = f"SELECT {', '.join(cols + ocsf_columns())}, source_format AS source, {day} AS day FROM events"
        (rows,) = con.execute("SELECT count(*) FROM events").fetchone() or (0,)
        con.execute(
            f"COPY ({sql}) TO {_lit(str(directory))} "
            f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({', '.join(PARTITIONS)}), "
            "FILENAME_PATTERN 'data_{i}')"
        )
        directory.mkdir(exist_ok=True)  # no rows: no partitions, still the table's directory
        partitioned = list(PARTITIONS)
    else:
        directory.mkdir()
        (rows,) = con.execute(f"SELECT count(*) FROM {_q(table)}").fetchone() or (0,)
        con.execute(
            f"COPY (SELECT {', '.join(cols)} FROM {_q(table)}) TO {_lit(str(directory / 'data.parquet'))} "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        partitioned = []
    files = sum(1 for _ in directory.rglob("*.parquet"))
    return TableReport(table, int(rows), files, str(target / table), partitioned)
