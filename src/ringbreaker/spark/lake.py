"""A lake written by ``ringbreaker export``, as Spark views named like the workspace's tables.

Every directory under the lake is one table (``events`` partitioned by ``source`` and ``day``), so
rule SQL that reads ``events``, ``findings`` or ``verdicts`` reads the same rows on Spark as on
DuckDB. Paths go through Hadoop's file system API, so ``s3a://``, ``abfss://`` and ``hdfs://`` lakes
work where the cluster has their connectors; a local directory needs nothing.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import InputError
from ringbreaker.workspace.context import TABLES, Context

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

REQUIRED = ("events", "alerts")


def _fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm: Any = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), jpath


def tables(spark: SparkSession, lake: str) -> list[str]:
    """The table names under ``lake`` (its directories, hidden and partial ones left out)."""
    fs, root = _fs(spark, lake)
    if not fs.exists(root) or not fs.getFileStatus(root).isDirectory():
        raise InputError(f"{lake}: no such lake directory (write one with `ringbreaker export --out DIR`)")
    names = sorted(
        str(s.getPath().getName())
        for s in fs.listStatus(root)
        if s.isDirectory() and not str(s.getPath().getName()).startswith((".", "_"))
    )
    missing = [t for t in REQUIRED if t not in names]
    if missing:
        raise InputError(
            f"{lake}: not a ringbreaker lake, it has no {', '.join(missing)} table "
            "(write one with `ringbreaker export --workspace W --out DIR`)"
        )
    return names


def register(spark: SparkSession, lake: str) -> list[str]:
    """Every table of ``lake`` as a temporary view of the same name; returns the names."""
    names = tables(spark, lake)
    for name in names:
        spark.read.parquet(f"{lake.rstrip('/')}/{name}").createOrReplaceTempView(name)
    return names


def read_context(spark: SparkSession, names: list[str]) -> Context:
    """The owner's context as the workspace stored it (empty tables when the lake has none); rows
    in file order, which is the workspace's (principals: first match wins)."""
    got: dict[str, tuple[tuple[Any, ...], ...]] = {}
    for table, cols in TABLES.items():
        if table not in names:
            got[table] = ()
            continue
        got[table] = tuple(tuple(r) for r in spark.table(table).select(*cols).collect())
    return Context(
        networks=got["context_networks"],
        principals=got["context_principals"],
        accounts=got["context_accounts"],
        models=got["context_models"],
    )


def replace_table(spark: SparkSession, lake: str, name: str, df: DataFrame) -> None:
    """Write ``df`` as the lake's table ``name``: into a hidden sibling first, then swapped in by two
    renames, so a killed run leaves the old table whole (on object stores a rename is a copy)."""
    base = lake.rstrip("/")
    fresh = f"{base}/.{name}.partial-{uuid.uuid4().hex[:8]}"
    df.write.mode("error").parquet(fresh)
    fs, target = _fs(spark, f"{base}/{name}")
    _, new = _fs(spark, fresh)
    _, old = _fs(spark, f"{base}/.{name}.old-{uuid.uuid4().hex[:8]}")
    if fs.exists(target) and not fs.rename(target, old):
        raise OSError(f"could not move {base}/{name} aside")
    if not fs.rename(new, target):
        fs.rename(old, target)
        raise OSError(f"could not move the new {name} table into {base}")
    fs.delete(old, True)
