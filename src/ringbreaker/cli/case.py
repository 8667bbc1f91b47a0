"""``ringbreaker case``: write a case file (HTML, STIX 2.1, JSON) for each crew in the workspace."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ringbreaker.cli.common import quiet_option, workspace_option
from ringbreaker.errors import UsageError, WorkspaceError
from ringbreaker.workspace import resolve

FIELDS = (
    "crew_id",
    "name",
    "dir",
    "keys",
    "victims",
    "creators",
    "providers",
    "users",
    "events",
    "cost_usd_metered",
    "cost_usd_estimated",
)


@click.command(context_settings={"max_content_width": 100})
@workspace_option
@click.option("--crew", "crews", multiple=True, metavar="ID", help="Crew id (from `attribute`); repeatable.")
@click.option(
    "--all", "all_crews", is_flag=True, help="Every crew in the workspace (the default), plus index.html."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for DIR/<crew-id>/case.html, case.stix.json and case.json.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl"]),
    default="table",
    show_default=True,
    help="What to print about the cases written: a table, one JSON array, or one JSON object per line "
    f"(fields: {', '.join(FIELDS)}).",
)
@quiet_option
def case(
    workspace: str | None, crews: tuple[str, ...], all_crews: bool, out: Path, fmt: str, quiet: bool
) -> None:
    """Write the case file of each crew: what a takedown or legal team needs to act.

    \b
    For each crew, under OUT/<crew-id>/:
      case.html       one self-contained page (opens offline): executive summary, org chart
                      (creators -> providers -> users), link chart of the infrastructure, timeline
                      from leak to abuse, stolen keys (redacted), cost estimate, recommended
                      actions, evidence tables with event ids
      case.stix.json  STIX 2.1 bundle: intrusion-set, threat-actors, infrastructure, indicators,
                      observed-data, sightings, relationships
      case.json       the same content for other tools (schema: docs/case.md)

    Reads only the workspace (run scan, ingest, classify, detect and attribute first). Keys appear
    only as redacted previews and SHA-256 fingerprints. Costs use the dated public price table
    shipped with ringbreaker (ringbreaker/case/prices.yaml).

    \b
    Examples:
      ringbreaker case --out cases/                     # every crew, plus cases/index.html
      ringbreaker case --crew 3f9c2a1b --out cases/     # one crew
      ringbreaker case --workspace w.duckdb --out cases/ --format jsonl
    """
    from ringbreaker.case import write_cases
    from ringbreaker.workspace import open_workspace

    if crews and all_crews:
        raise UsageError("use --crew ID or --all, not both")
    path = resolve(workspace)
    if not path.exists():
        raise WorkspaceError(
            "no workspace here: run `ringbreaker scan`, `ingest` and `attribute` first", source=str(path)
        )
    con = open_workspace(path, read_only=True)
    try:
        written = write_cases(con, out, list(crews) or None, workspace=str(path))
    finally:
        con.close()
    records = [
        {"crew_id": w.crew_id, "name": w.name, "dir": str(w.dir)} | {f: w.summary[f] for f in FIELDS[3:]}
        for w in written
    ]
    if fmt == "jsonl":
        for r in records:
            click.echo(json.dumps(r))
    elif fmt == "json":
        click.echo(json.dumps(records, indent=2))
    else:
        if not written and not quiet:
            click.echo("no crews in the workspace: run `ringbreaker attribute` first", err=True)
        for r in records:
            click.echo(
                f"{r['crew_id']}  {r['name']}: {r['keys']} keys, {r['creators']} creators, {r['providers']} "
                "providers, "
                f"{r['users']} users, {r['events']:,} events, est. ${r['cost_usd_estimated']:,.2f}  "
                f"-> {Path(r['dir']) / 'case.html'}"
            )
        if not crews:
            click.echo(f"index: {out / 'index.html'}")
