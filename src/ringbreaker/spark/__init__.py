"""The Spark engine: ringbreaker's rules and crews over a data lake that ``export`` wrote.

DuckDB on one machine is the default and the reference; a provider's abuse team keeps telemetry in
a lake and runs Spark. This package runs the same stages there (``detect --engine spark --lake
DIR``) and must give what the DuckDB engine gives on the same data: the same alert ids, evidence
and summaries. How: the lake's tables become Spark views with the workspace's table names, the rule
SQL goes through ``sql.to_spark`` (sqlglot plus the rewrites that make values, not only syntax,
agree), and the hit rows are folded into alerts by the very functions the DuckDB engine uses.

``pyspark`` is an extra (``pip install 'ringbreaker[spark]'``) and needs a Java runtime (17 or
newer); ``session`` says which is missing instead of failing deep inside py4j.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from importlib import resources
from typing import TYPE_CHECKING, Any

from ringbreaker.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DEFAULT_MASTER", "session"]

DEFAULT_MASTER = "local[2]"


def _check_runtime() -> None:
    if importlib.util.find_spec("pyspark") is None:
        raise UsageError("the Spark engine needs pyspark: pip install 'ringbreaker[spark]'")
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise UsageError(
            "the Spark engine needs a Java runtime (17 or newer): install one (Debian: "
            "apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )


def session(master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """A Spark session for ringbreaker: ``master`` (default ``local[2]``, or the one spark-submit
    gives), UTC session time zone (rule SQL reads times as UTC, as the DuckDB engine does), ANSI
    mode off (DuckDB's division by zero gives a value, not an error), the web UI off for local runs."""
    _check_runtime()
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.appName("ringbreaker")
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:  # spark-submit sets its own master
        builder = builder.master(master or DEFAULT_MASTER)
    log4j = resources.files("ringbreaker.spark").joinpath("log4j2.properties")
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": os.environ.get("RINGBREAKER_SPARK_DRIVER_MEMORY", "2g"),
        # errors reach the user as ringbreaker's messages; the JVM's own log lines only add noise
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
        **(conf or {}),
    }
    local = master or ("" if "PYSPARK_GATEWAY_PORT" in os.environ else DEFAULT_MASTER)
    if local.startswith("local"):  # Spark's 200 shuffle partitions cost more than they give on one machine
        cores = local.removeprefix("local").strip("[]").split(",")[0]
        settings.setdefault(
            "spark.sql.shuffle.partitions", cores if cores.isdigit() else str(os.cpu_count() or 2)
        )
    for key, value in settings.items():
        builder = builder.config(key, value)
    from pyspark.errors import PySparkException

    try:
        spark: SparkSession = builder.getOrCreate()
    except PySparkException as e:  # the JVM did not start (bad master URL, Java too old, no memory)
        raise UsageError(f"Spark did not start: {str(e).splitlines()[0]}") from e
    spark.sparkContext.setLogLevel("ERROR")
    return spark
