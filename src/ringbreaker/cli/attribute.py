"""``ringbreaker attribute``: crews, their members' roles, the keys they stole, and a timeline."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from ringbreaker.cli.common import quiet_option, workspace_option
from ringbreaker.model import ALERT_SEVERITIES, Role, Severity

TABLE_ROWS = 50  # crews shown in the table, most keys first
ISO = "%Y-%m-%dT%H:%M:%SZ"  # the crews' times, as `--format json` prints them


@click.command(context_settings={"max_content_width": 100})
@workspace_option
@click.option(
    "--code",
    "code",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of public git repositories (the crew's tooling, the leaks); repeatable. Without it "
    "crews are still found, but creators, providers' hosts and published tools cannot be named.",
)
@click.option(
    "--min-severity",
    type=click.Choice([s.value for s in ALERT_SEVERITIES if s.at_least(Severity.LOW)]),
    default="high",
    show_default=True,
    help="Alerts at or above this severity seed the abuse subgraph.",
)
@click.option(
    "--memory-limit",
    default="1400MB",
    show_default=True,
    help="DuckDB memory limit while attributing ('none': DuckDB's default, 80% of RAM). Lower saves "
    "memory on big workspaces at the cost of spilling to disk.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: the crews, members (role, confidence, evidence), keys and timeline as one document.",
)
@quiet_option
def attribute(
    workspace: str | None, code: tuple[Path, ...], min_severity: str, memory_limit: str, fmt: str, quiet: bool
) -> None:
    """Link alerts, keys, proxies, tools and end users into crews and name their roles.

    \b
    Reads alerts (run `detect` first), events, findings and verdicts; writes the workspace tables
    crews (with their ties and confidence), crew_members (kind, entity, role creator|provider|user,
    confidence, evidence and the alert/event/commit ids behind it, first/last seen, and for
    addresses their part: checker, control-plane, egress, proxy-pool, shared), crew_keys (each
    stolen key, its victim, leak and first abuse), timeline (leak -> key check -> model enablement
    -> abuse -> guardrail tampering -> prohibited content) and crew_edges (the graph: address ->
    key, principal, client; pool -> exit; shared exit -> other crew). Victims own the stolen keys and
    are never crew members. Each run replaces the previous attribution in one transaction.

    \b
    Beyond the alerted addresses, every address that used a stolen key after it leaked (or was
    alerted) joins, unless the owner used it before; proxy-pool exits are one pool; exits that
    several crews share stay apart; one operator with one victim's stolen key is a crew too.

    \b
    Examples:
      ringbreaker attribute --workspace case.duckdb --code world/public-code
      ringbreaker attribute --format json | jq '.crews[].members[] | select(.role == "creator")'
    """
    from ringbreaker.attribute import AttributeConfig, to_json
    from ringbreaker.attribute import attribute as run_attribute
    from ringbreaker.workspace import open_workspace

    con = open_workspace(workspace, create=False)
    try:
        limit = None if memory_limit.lower() == "none" else memory_limit
        result = run_attribute(con, AttributeConfig(code=code, min_severity=min_severity, memory_limit=limit))
        if fmt == "json":
            click.echo(json.dumps(to_json(con, result), indent=2, default=str))
            return
    finally:
        con.close()
    from rich.console import Console
    from rich.table import Table

    table = Table(title="crews", title_justify="left")
    for col in (
        "crew",
        "name",
        "confidence",
        "keys",
        "victims",
        "creators",
        "providers",
        "users",
        "first seen",
        "last seen",
    ):
        table.add_column(col, no_wrap=True)
    shown = sorted(result.crews, key=lambda c: -(c.key_count or len(c.keys)))[:TABLE_ROWS]
    for c in shown:
        roles = Counter(m.role for m in c.members)
        table.add_row(
            c.id,
            c.name,
            "" if c.crew.confidence is None else f"{c.crew.confidence:.2f}",
            str(c.key_count or len(c.keys)),
            str(c.victim_count or len({k["victim"] for k in c.keys if k["victim"]})),
            str(roles[Role.CREATOR]),
            str(roles[Role.PROVIDER]),
            str(roles[Role.USER] + c.user_count),
            f"{c.crew.first_time:{ISO}}" if c.crew.first_time else "",
            f"{c.crew.last_time:{ISO}}" if c.crew.last_time else "",
        )
    console = Console(width=None if Console().is_terminal else 160)
    console.print(table)
    if quiet:
        return
    if len(result.crews) > len(shown):
        click.echo(
            f"... and {len(result.crews) - len(shown)} more crew(s) with fewer keys "
            "(all of them: --format json, or the crews table)",
            err=True,
        )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"attribute: {len(result.crews)} crew(s) from {result.seeds} seed address(es), "
        f"{result.abuse_events:,} abuse event(s), graph of {result.nodes} node(s) and {result.edges} edge(s)",
        err=True,
    )
