"""``ringbreaker show``: an event's original record, read from the evidence store and verified."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import click

from ringbreaker.cli.common import FormatChoice, quiet_option, workspace_option


@click.command(context_settings={"max_content_width": 100})
@click.argument("event_ids", nargs=-1, required=True, metavar="EVENT_ID...")
@workspace_option
@click.option(
    "--format",
    "fmt",
    type=FormatChoice(["table", "json", "jsonl"], aliases={"text": "table", "raw": "table"}),
    default="table",
    show_default=True,
    help="table: the record as the source file holds it; json: one document (a list for several "
    "ids) with the record and its citation; jsonl: one such object a line.",
)
@quiet_option
def show(event_ids: tuple[str, ...], workspace: str | None, fmt: str, quiet: bool) -> None:
    """Print the original record of each EVENT_ID, verified against the source file's SHA-256.

    Ingest keeps every source file in the evidence store beside the workspace (W.evidence/, files
    named by the SHA-256 of their bytes, compressed as they came) and each event cites its record:
    that hash plus the record's position (`source_offset`: a line number for NDJSON/CSV, a record
    index otherwise). `show` reads the file, checks its hash, finds the record at the position and
    checks that it maps to the event's id, then prints the record's text with every credential the
    secret rules find shown as a short preview (`sk-p…(164)`), as in all output. An event stored with
    `ingest --keep-raw` (or before evidence was kept) is printed from the workspace, marked
    unverified on stderr. Event ids are in `detect` evidence, case files and `serve`.

    \b
    Exit codes: 0 printed, 2 usage error, no such event or workspace, or the evidence file is
    missing or does not match its hash (the message names the file).

    \b
    Examples:
      ringbreaker show 3f2a9c... --workspace case.duckdb
      ringbreaker show 3f2a9c... --format json | jq .record.userIdentity
      ringbreaker detect --format jsonl | jq -r '.evidence[0]' | xargs ringbreaker show
    """
    from ringbreaker.ingest import read_record
    from ringbreaker.workspace import guarded, open_workspace

    con = open_workspace(workspace, read_only=True, create=False)
    try:
        with guarded(con, "show"):
            cache: dict[str, Any] = {}  # each evidence file hashed and split once for many ids
            records = [read_record(con, i, cache) for i in event_ids]
    finally:
        con.close()
    from ringbreaker.watch.redact import redact_text

    # Verified on the file's bytes above; what is printed is redacted (a log can hold a key).
    records = [replace(r, text=redact_text(r.text)) for r in records]
    if fmt == "json":
        docs = [r.to_dict() for r in records]
        click.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
        return
    for r in records:
        if fmt == "jsonl":
            click.echo(json.dumps(r.to_dict()))
            continue
        click.echo(r.text)
        if quiet:
            continue
        where = f"{r.source_file}" + (f" @{r.source_offset}" if r.source_offset is not None else "")
        if r.verified:
            click.echo(
                f"show: {r.event_id}: {where}: verified, sha256 {r.source_sha256} ({r.evidence_file})",
                err=True,
            )
        else:
            click.echo(f"show: {r.event_id}: {where}: from the workspace (raw kept by ingest), not verified "
                       "against an evidence file", err=True)  # fmt: skip
