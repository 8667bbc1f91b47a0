"""``ringbreaker detect``: run the detection rules over a workspace into alerts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from ringbreaker.cli.common import EXIT_FOUND, EXIT_OK, quiet_option, workspace_option
from ringbreaker.errors import UsageError
from ringbreaker.model import ALERT_SEVERITIES, Severity

if TYPE_CHECKING:
    from ringbreaker.detect import Result
    from ringbreaker.model import Alert
    from ringbreaker.rules.detections import DetectionRule
    from ringbreaker.workspace.context import Context


@click.command()
@workspace_option
@click.option("--rule", "rule_ids", multiple=True, metavar="ID", help="Run only this rule (repeatable).")
@click.option(
    "--rules",
    "extra",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra detection rule file or directory (repeatable), e.g. from `rules import-sigma`.",
)
@click.option(
    "--since",
    metavar="T",
    help="Report only hits whose last event is at or after T (ISO time, e.g. 2025-03-05T00:00:00Z). "
    "Baselines still use the whole history.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl", "ocsf"]),
    default="table",
    show_default=True,
    help="ocsf: a JSON array of OCSF 1.x Detection Findings (class 2004).",
)
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in ALERT_SEVERITIES]),
    default=None,
    help="Exit 1 when an alert at or above this severity exists (CI and cron use).",
)
@click.option(
    "--context",
    "context_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Load this context file into the workspace first (as `ringbreaker context FILE` does; it stays).",
)
@click.option("--dry-run", is_flag=True, help="Run the rules and print alerts without writing them.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="spark: run the same rules on Spark over --lake (a lake `ringbreaker export` wrote); "
    "same alert ids as duckdb. Needs `pip install 'ringbreaker[spark]'` and Java 17+.",
)
@click.option(
    "--lake",
    metavar="DIR",
    help="The lake for --engine spark (a directory, or s3a://, abfss://, hdfs:// where the cluster "
    "reads them); alerts are written back to its alerts table.",
)
@click.option(
    "--master",
    metavar="URL",
    help="Spark master for --engine spark (default local[2]; under spark-submit, the one it gives).",
)
@quiet_option
def detect(
    workspace: str | None,
    rule_ids: tuple[str, ...],
    extra: tuple[Path, ...],
    since: str | None,
    fmt: str,
    fail_on: str | None,
    context_file: Path | None,
    dry_run: bool,
    engine: str,
    lake: str | None,
    master: str | None,
    quiet: bool,
) -> None:
    """Run the detection rules over the workspace and write `alerts`.

    Each rule is SQL over events, findings and verdicts; hits on one entity (a key, a source IP,
    an Azure resource) group into one alert with a stable id, so re-running updates alerts instead
    of raising them twice. All alerts of a run are written in one transaction.

    \b
    Exit codes: 0 ok (or no alert at/above --fail-on), 1 an alert at/above --fail-on, 2 error.

    \b
    Examples:
      ringbreaker detect --workspace ws.duckdb
      ringbreaker detect --rule det.leaked-key.use --format jsonl
      ringbreaker detect --since 2025-03-05T00:00:00Z --fail-on high
      ringbreaker detect --format ocsf > findings.ocsf.json
      ringbreaker detect --context context.yaml   # office/CI networks, IaC roles (see `context`)
      ringbreaker detect --engine spark --lake lake/ --format jsonl   # after `export --out lake/`

    With --engine spark, --context applies to that run only (the lake keeps the exported context).
    """
    import duckdb

    from ringbreaker.detect import detect as run_detect
    from ringbreaker.detect import render
    from ringbreaker.rules import load_detection_rules
    from ringbreaker.workspace import guarded, open_workspace
    from ringbreaker.workspace.context import load_context, store_context

    rules = load_detection_rules(extra)
    if rule_ids:
        known = {r.id for r in rules}
        unknown = [r for r in rule_ids if r not in known]
        if unknown:
            raise UsageError(f"unknown rule id(s): {', '.join(unknown)} (see `ringbreaker rules list`)")
        rules = [r for r in rules if r.id in rule_ids]
    if since is not None:
        try:
            duckdb.execute("SELECT ?::TIMESTAMPTZ", [since]).fetchall()
        except duckdb.Error as e:
            raise UsageError(f"--since {since!r} is not a time (example: 2025-03-05T00:00:00Z)") from e
    ctx = load_context(context_file) if context_file is not None else None
    err = Console(stderr=True, quiet=quiet)
    if engine == "spark":
        result = _on_spark(lake, master, rules, since, not dry_run, ctx, err)
    else:
        if lake is not None or master is not None:
            raise UsageError("--lake and --master need --engine spark")
        con = open_workspace(workspace, create=False)
        try:
            if ctx is not None:
                with guarded(con, "context"):
                    store_context(con, ctx)
            with err.status("detect") as status:
                result = run_detect(
                    con,
                    rules,
                    since=since,
                    write=not dry_run,
                    progress=lambda r: status.update(f"detect: {r.id}"),
                )
        finally:
            con.close()
    by_id = {r.id: r for r in rules}
    if fmt == "table":
        _table(result.alerts)
    elif result.alerts or fmt != "jsonl":
        click.echo(render(result.alerts, fmt, by_id))
    new = sum(a.new for a in result.alerts)
    took = sum(r.seconds for r in result.runs)
    if not quiet:
        click.echo(
            f"detect: {len(rules)} rule(s), {len(result.alerts)} alert(s) ({new} new), "
            f"{'not written (dry run)' if dry_run else f'{result.written} written'} in {took:.2f}s",
            err=True,
        )
    if fail_on is not None and result.worst() >= Severity(fail_on).rank:
        sys.exit(EXIT_FOUND)
    sys.exit(EXIT_OK)


def _on_spark(
    lake: str | None,
    master: str | None,
    rules: list[DetectionRule],
    since: str | None,
    write: bool,
    ctx: Context | None,
    err: Console,
) -> Result:
    if lake is None:
        raise UsageError("--engine spark needs --lake DIR (write one with `ringbreaker export --out DIR`)")
    from ringbreaker.spark import session
    from ringbreaker.spark.detect import detect as spark_detect

    with err.status("detect: starting Spark") as status:
        spark = session(master)
        try:
            return spark_detect(
                spark,
                lake,
                rules,
                since=since,
                write=write,
                context=ctx,
                progress=lambda r: status.update(f"detect (spark): {r.id}"),
            )
        finally:
            spark.stop()


def _table(alerts: list[Alert]) -> None:
    from ringbreaker.detect import iso

    t = Table(title=f"{len(alerts)} alert(s)")
    for col in ("severity", "rule", "first seen", "count", "summary"):
        t.add_column(col, overflow="fold")
    for a in alerts:
        t.add_row(a.severity, a.rule, iso(a.first_time), str(a.count), a.summary)
    Console(width=200).print(t)
