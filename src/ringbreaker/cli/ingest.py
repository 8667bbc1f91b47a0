"""``ringbreaker ingest``: read provider and gateway logs into the workspace's ``events`` table."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from ringbreaker.cli.common import FormatChoice, SizeType, workspace_option
from ringbreaker.errors import RingbreakerError, UsageError
from ringbreaker.ingest import BATCH, FORMATS, FileReport, IngestConfig
from ringbreaker.ingest import ingest as run_ingest

EXIT_OK, EXIT_QUARANTINED, EXIT_ERROR = 0, 1, 2


def _line(r: FileReport) -> str:
    if r.status == "skipped":
        return f"{r.path}: skipped ({r.why})"
    if r.status == "failed":
        return f"{r.path}: FAILED: {r.why}"
    if r.status == "ignored":
        return f"{r.path}: ignored, not a recognised log format ({r.why})"
    if r.status == "unknown":
        return f"{r.path}: unknown format ({r.why}); quarantined as a whole file"
    how = ", ".join(x for x in (r.compression, r.shape) if x)
    counts = (
        f"{r.read:,} read, {r.stored:,} stored, {r.duplicates:,} duplicate, {r.quarantined:,} quarantined"
    )
    notes = "".join(f"\n  note: {n}" for n in r.notes)
    return f"{r.path}: {r.format} ({how}; {r.why}): {counts}{notes}"


@click.command(context_settings={"max_content_width": 100})
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@workspace_option
@click.option(
    "--geoip",
    "geoip",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MaxMind-format database (.mmdb: ASN, Country, City or Anonymous IP) for offline src_asn, "
    "src_org, src_country and src_anonymizer (tor, anonymous-vpn, proxy, hosting); repeatable.",
)
@click.option(
    "--format-hint",
    type=click.Choice(FORMATS),
    default=None,
    help="Read every input as this format instead of detecting it from the content.",
)
@click.option(
    "--format",
    "fmt",
    type=FormatChoice(["table", "json"], aliases={"text": "table"}),  # `text`: the old name of `table`
    default="table",
    show_default=True,
    help="json: the per-file summary as one JSON document on stdout.",
)
@click.option("--force", is_flag=True, help="Read files again even when unchanged since the last ingest.")
@click.option(
    "--keep-raw",
    is_flag=True,
    help="Store every record's JSON in the workspace (events.raw) and keep no evidence files: for "
    "when the source files cannot be kept. Default: files kept in the evidence store, events cite them.",
)
@click.option(
    "--evidence",
    "evidence",
    type=click.Path(file_okay=False),
    default=None,
    help="Evidence store directory (default: the one the workspace recorded, else WORKSPACE.evidence/).",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(0, 256), default=0, help="Parser processes (0: one per core)."
)
@click.option("--batch-size", type=click.IntRange(1), default=BATCH, hidden=True)
@click.option("--parallel-min", type=SizeType(), default=None, hidden=True)  # tests: workers on small input
@click.option("-q", "--quiet", is_flag=True, help="No per-file lines or summary on stderr.")
def ingest(
    paths: tuple[str, ...],
    workspace: str | None,
    geoip: tuple[Path, ...],
    format_hint: str | None,
    fmt: str,
    force: bool,
    keep_raw: bool,
    evidence: str | None,
    jobs: int,
    batch_size: int,
    parallel_min: int | None,
    quiet: bool,
) -> None:
    """Read telemetry from PATHS (files, directories, globs; '-' for stdin) into the workspace.

    Formats, detected per file from the content: cloudtrail (S3 Records files, JSON arrays,
    NDJSON), bedrock-invocation, azure-diagnostics, azure-activity, litellm-spendlogs (JSONL, CSV),
    openai-audit, guardduty, gcp-audit (Cloud Audit Logs: Vertex AI), ocsf (OCSF API Activity:
    Security Lake Parquet, OCSF JSON, `ringbreaker export`'s events). gzip, zstd and plain. Every
    record becomes one row of `events` with a stable id, so ingesting the same file twice adds
    nothing; unchanged files are skipped. Records that cannot be mapped go to `quarantine` with
    file, line and reason.

    Evidence by reference: each file is kept as it came (hard link, else a copy) in the evidence
    store beside the workspace (WORKSPACE.evidence/, named by its SHA-256), and each event cites
    it (`source_sha256` + `source_offset`); `ringbreaker show EVENT_ID` prints the record from it,
    verified. `events.raw` keeps only the records detection rules read whole (control-plane
    CloudTrail calls, GuardDuty, Azure activity, OpenAI audit); `--keep-raw` keeps every record's.

    \b
    Exit codes: 0 ok, 1 something was quarantined, 2 usage or input error.

    \b
    Examples:
      ringbreaker ingest AWSLogs/ --workspace case.duckdb
      ringbreaker ingest 'logs/**/*.json.gz' --geoip GeoLite2-ASN.mmdb --geoip GeoLite2-Country.mmdb
      zcat spendlogs.jsonl.gz | ringbreaker ingest - --format-hint litellm-spendlogs
      ringbreaker ingest gs-sink/cloudaudit.googleapis.com/ aws-security-lake/ext/
      ringbreaker ingest AWSLogs/ --keep-raw          # no evidence files: records in the workspace
    """
    if not paths:
        raise UsageError("give at least one PATH ('-' for stdin)")
    from ringbreaker.workspace import open_workspace

    cfg = IngestConfig(
        hint=format_hint,
        geoip=tuple(str(g) for g in geoip),
        jobs=jobs,
        force=force,
        batch=batch_size,
        keep_raw=keep_raw,
        evidence=evidence,
    )
    if parallel_min is not None:
        cfg = dataclasses.replace(cfg, parallel_min=parallel_min)
    stdin = sys.stdin.buffer.read() if "-" in paths else None
    files = [p for p in paths if p != "-"]

    def show(r: FileReport) -> None:
        if not quiet:
            click.echo(f"ingest: {_line(r)}", err=True)

    try:
        con = open_workspace(workspace)
        try:
            report = run_ingest(con, files, cfg, stdin=stdin, on_file=show)
        finally:
            con.close()
    except RingbreakerError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    totals = report.totals()
    if not quiet:
        rate = totals["read"] / report.seconds if report.seconds > 0 else 0.0
        click.echo(
            f"ingest: {len(report.files)} file(s), {totals['read']:,} read, {totals['stored']:,} stored, "
            f"{totals['duplicates']:,} duplicate, {totals['quarantined']:,} quarantined, "
            f"{totals.get('files_skipped', 0)} unchanged skipped in {report.seconds:.2f}s "
            f"({rate:,.0f} records/s)"
            + (f", {report.keys_joined:,} joined to a key by its id" if report.keys_joined else ""),
            err=True,
        )
    if any(f.status == "failed" for f in report.files):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_QUARANTINED if totals["quarantined"] else EXIT_OK)
