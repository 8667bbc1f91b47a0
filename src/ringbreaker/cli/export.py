"""``ringbreaker export``: every workspace table as Parquet, events OCSF-aligned and partitioned."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ringbreaker.cli.common import FormatChoice, quiet_option, workspace_option
from ringbreaker.errors import InputError


@click.command(context_settings={"max_content_width": 100})
@workspace_option
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to create (must not exist, or be empty); written atomically.",
)
@click.option(
    "--tables",
    "tables",
    multiple=True,
    metavar="NAME[,NAME]",
    help="Export only these tables (repeatable or comma-separated; default: all).",
)
@click.option(
    "--format",
    "fmt",
    type=FormatChoice(["table", "json", "jsonl"], aliases={"text": "table"}),
    default="table",
    show_default=True,
    help="jsonl: one line per table; json: one document with every table.",
)
@quiet_option
def export(workspace: str | None, out: Path, tables: tuple[str, ...], fmt: str, quiet: bool) -> None:
    """Write the workspace's tables as Parquet under OUT, for Spark, Athena or any lake reader.

    \b
    OUT/events/source=<source_format>/day=YYYY-MM-DD/data_0.parquet   (Hive-style partitions)
    OUT/<table>/data.parquet                                           (every other table)

    Types are Spark's: no unsigned integers, timestamps in UTC microseconds. `events` keeps every
    ringbreaker column and adds OCSF API Activity (class 6003) columns named by their OCSF path
    (`api.operation`, `src_endpoint.ip`, `actor.user.uid`, `class_uid`, `status_id`, ...), the
    mapping the `ocsf` ingest format reads, so `ringbreaker ingest OUT/events` reads it back. The
    export is written beside OUT and renamed into place: a killed export leaves no half OUT.

    \b
    Exit codes: 0 written, 2 usage or input error (no such workspace or table, OUT not empty).

    \b
    Examples:
      ringbreaker export --workspace case.duckdb --out lake/
      ringbreaker export --out lake/ --tables events,alerts --format jsonl
      duckdb -c "SELECT source, day, count(*) FROM read_parquet('lake/events/**/*.parquet',
                 hive_partitioning = true) GROUP BY ALL"
    """
    from ringbreaker.workspace import open_workspace, resolve
    from ringbreaker.workspace.export import TableReport
    from ringbreaker.workspace.export import export as run_export

    path = resolve(workspace)
    if not path.is_file():
        raise InputError(f"no such workspace: {path}")
    names = [n.strip() for t in tables for n in t.split(",") if n.strip()]

    def show(t: TableReport) -> None:
        if fmt == "jsonl":
            click.echo(json.dumps(t.to_dict()))
        elif fmt == "table":
            parts = f", partitioned by {'/'.join(t.partitioned_by)}" if t.partitioned_by else ""
            click.echo(f"{t.table}: {t.rows:,} rows, {t.files} file(s) in {t.path}{parts}")

    con = open_workspace(path, read_only=True)
    try:
        report = run_export(con, out, names or None, on_table=show)
    finally:
        con.close()
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    if not quiet:
        rows = sum(t.rows for t in report.tables)
        click.echo(
            f"export: {len(report.tables)} table(s), {rows:,} rows to {report.out} in {report.seconds:.2f}s",
            err=True,
        )
