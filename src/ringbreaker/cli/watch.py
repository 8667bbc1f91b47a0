"""``ringbreaker watch``: follow log folders, ingest as they fill, detect, send alerts to sinks."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from ringbreaker.cli.common import EXIT_ERROR, EXIT_FOUND, EXIT_OK, quiet_option, workspace_option
from ringbreaker.errors import UsageError
from ringbreaker.ingest import FORMATS
from ringbreaker.model import ALERT_SEVERITIES, Severity

SECONDS = click.FloatRange(0.05, 86_400)


@click.command(context_settings={"max_content_width": 100})
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@workspace_option
@click.option(
    "--interval",
    type=SECONDS,
    default=15.0,
    show_default=True,
    help="Seconds between detect runs (only when new events were stored).",
)
@click.option(
    "--poll",
    type=SECONDS,
    default=2.0,
    show_default=True,
    help="Seconds between looks at the paths for new files and appended lines.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0, 3600),
    default=2.0,
    show_default=True,
    help="A compressed or JSON-document file unmodified this long is complete (else it "
    "must keep its size across two polls).",
)
@click.option("--once", is_flag=True, help="Process what is there, deliver, exit (cron, CI).")
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST each new or grown alert here (repeatable).",
)
@click.option(
    "--webhook-format",
    type=click.Choice(["json", "slack", "teams"]),
    default="json",
    show_default=True,
    help="json: the alert object; slack: text + blocks; teams: MessageCard.",
)
@click.option(
    "--webhook-timeout",
    type=SECONDS,
    default=10.0,
    show_default=True,
    help="Seconds to wait for a webhook's answer.",
)
@click.option(
    "--exec",
    "commands",
    multiple=True,
    metavar="CMD",
    help="Run CMD (with /bin/sh) per alert, its JSON on stdin; non-zero exit is retried (repeatable).",
)
@click.option(
    "--exec-timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="Seconds an --exec command may run before it counts as failed.",
)
@click.option(
    "--stdout",
    "to_stdout",
    is_flag=True,
    help="Also print alerts as JSONL on stdout (the default when no --webhook or --exec is given).",
)
@click.option(
    "--retries",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="With --once: failed attempts per sink before exiting 2 (the alerts stay queued).",
)
@click.option(
    "--retry-base",
    type=SECONDS,
    default=1.0,
    show_default=True,
    help="First retry delay in seconds; doubles per consecutive failure.",
)
@click.option(
    "--max-backoff",
    type=SECONDS,
    default=300.0,
    show_default=True,
    help="Longest retry delay in seconds (a sink is retried for ever, at most this far apart).",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="A sink's first run marks the alerts already in the workspace as sent (no backlog flood).",
)
@click.option(
    "--rule", "rule_ids", multiple=True, metavar="ID", help="Run only this detection rule (repeatable)."
)
@click.option(
    "--rules",
    "extra",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra detection rule file or directory (repeatable).",
)
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in ALERT_SEVERITIES]),
    default=None,
    help="With --once: exit 1 when an alert at or above this severity exists.",
)
@click.option(
    "--format-hint",
    type=click.Choice(FORMATS),
    default=None,
    help="Read every file as this format instead of detecting it.",
)
@click.option(
    "--geoip",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MaxMind-format database for src_asn/src_org/src_country (repeatable, as for ingest).",
)
@click.option(
    "--keep-raw",
    is_flag=True,
    help="As for ingest: every record's JSON in the workspace, no evidence files kept.",
)
@click.option("--no-classify", is_flag=True, help="Do not score new prompts before detect.")
@quiet_option
def watch(
    paths: tuple[Path, ...],
    workspace: str | None,
    interval: float,
    poll: float,
    settle: float,
    once: bool,
    webhooks: tuple[str, ...],
    webhook_format: str,
    webhook_timeout: float,
    commands: tuple[str, ...],
    exec_timeout: float,
    to_stdout: bool,
    retries: int,
    retry_base: float,
    max_backoff: float,
    skip_existing: bool,
    rule_ids: tuple[str, ...],
    extra: tuple[Path, ...],
    fail_on: str | None,
    format_hint: str | None,
    geoip: tuple[Path, ...],
    keep_raw: bool,
    no_classify: bool,
    quiet: bool,
) -> None:
    """Follow PATHS (folders and files) as log shippers fill them; ingest, classify and detect
    as they grow, and send every new or grown alert to the sinks.

    New files are ingested once complete (unchanged for --settle seconds or across two polls);
    JSONL files are read from where the last read stopped, whole lines only. Every --interval
    seconds with new events, detect runs; an alert that is new, or grew (more hits or evidence,
    higher severity), is sent to each sink at least once, with `<id>-r<revision>` as its
    idempotency key. Kill it at any point: a restart loses and repeats no event and re-sends
    only the one alert whose acknowledgement was in flight. SIGINT/SIGTERM stop after the
    current step.

    \b
    Exit codes: 0 stopped cleanly (or --once: no alert at/above --fail-on), 1 --once and an
    alert at/above --fail-on, 2 error (--once: an alert still undelivered after --retries).

    \b
    Examples:
      ringbreaker watch /var/log/cloudtrail/ --workspace ws.duckdb
      ringbreaker watch s3-mirror/ gateway/spend.jsonl --webhook https://hooks.slack.com/services/T/B/X \\
          --webhook-format slack
      ringbreaker watch logs/ --exec 'jq -c . >> /var/spool/alerts.jsonl' --stdout
      ringbreaker watch logs/ --once --fail-on high      # cron: one pass, exit 1 on high/critical
      ringbreaker watch logs/ --webhook https://soar.example/hook --skip-existing
    See docs/watch.md for systemd units, an S3 sync and the delivery state.
    """
    from ringbreaker.ingest import IngestConfig
    from ringbreaker.rules import load_detection_rules
    from ringbreaker.watch import ExecSink, Sink, StdoutSink, Watch, WatchConfig, WebhookSink

    sinks: list[Sink] = [WebhookSink(u, webhook_format, webhook_timeout) for u in webhooks]
    sinks += [ExecSink(c, exec_timeout) for c in commands]
    if to_stdout or not sinks:
        sinks.append(StdoutSink())
    if len({s.key for s in sinks}) < len(sinks):
        raise UsageError("the same sink is given twice")
    cfg = WatchConfig(
        paths=paths,
        workspace=Path(workspace) if workspace else None,
        interval=interval,
        poll=poll,
        settle=settle,
        once=once,
        ingest=IngestConfig(hint=format_hint, geoip=tuple(str(g) for g in geoip), keep_raw=keep_raw),
        classify=not no_classify,
        retries=retries,
        retry_base=retry_base,
        max_backoff=max_backoff,
        skip_existing=skip_existing,
    )
    rules = load_detection_rules(extra)
    if rule_ids:
        unknown = sorted(set(rule_ids) - {r.id for r in rules})
        if unknown:
            raise UsageError(f"unknown rule id(s): {', '.join(unknown)} (see `ringbreaker rules list`)")
        rules = [r for r in rules if r.id in rule_ids]

    def note(msg: str) -> None:
        if not quiet:
            click.echo(f"watch: {msg}", err=True)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        note(f"{signal.Signals(signum).name}: stopping after the current step")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    where, labels = ", ".join(str(p) for p in paths), ", ".join(s.label for s in sinks)
    note(f"following {where} every {poll:g}s; detect every {interval:g}s; sinks: {labels}")
    totals = Watch(cfg, rules, sinks, note=note, stop=stop).run()
    note(
        f"{totals.events} event(s) from {totals.files} file(s), {totals.scored} prompt(s) scored, "
        f"{totals.detects} detect run(s), {totals.queued} alert revision(s) queued, "
        f"{totals.delivered} delivered, {totals.undelivered} still queued"
    )
    if once and totals.undelivered:
        click.echo(
            f"error: {totals.undelivered} alert(s) not delivered after {retries} attempt(s); "
            "they stay queued and are sent by the next run",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    if once and fail_on is not None and totals.worst >= Severity(fail_on).rank:
        sys.exit(EXIT_FOUND)
    sys.exit(EXIT_OK)
