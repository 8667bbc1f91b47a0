"""``ringbreaker context``: load, show or clear the owner's context file in the workspace."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ringbreaker.cli.common import EXIT_OK, quiet_option, workspace_option
from ringbreaker.errors import UsageError


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@workspace_option
@click.option("--clear", is_flag=True, help="Delete the stored context (rules then judge without it).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="How the stored context is printed (without FILE).",
)
@quiet_option
def context(file: Path | None, workspace: str | None, clear: bool, fmt: str, quiet: bool) -> None:
    """Keep what you know and the logs cannot say: your networks, IaC and admin principals,
    which accounts are one owner's, the models each principal is expected to call.

    With FILE (YAML or JSON), validate it and replace the workspace's context with it; without,
    print the stored context as a context file. `detect --context FILE` does the same load before
    it runs. Detection rules use it for severity: an office or CI network, a Terraform role or a
    console administrator lowers a hit; several accounts of one owner count as one victim.

    \b
    A context file:
      networks:                        # office | ci | vpn | datacenter | partner
        - {cidr: 203.0.113.0/24, kind: office, name: HQ egress}
      principals:                      # iac | admin | service | ci (globs over the ARN/principal)
        - {match: "arn:aws:iam::*:role/terraform-*", kind: iac}
      accounts:                        # one owner's accounts
        - {id: "111122223333", owner: acme}
        - {id: "444455556666", owner: acme}
      models:                          # expected models per principal (glob) or key fingerprint
        - {principal: "arn:aws:iam::111122223333:role/app-*", models: ["anthropic.claude-3-haiku*"]}

    \b
    Exit codes: 0 ok, 2 error (an invalid file names every bad entry; nothing is stored).

    \b
    Examples:
      ringbreaker context context.yaml --workspace ws.duckdb
      ringbreaker context --workspace ws.duckdb --format json
      ringbreaker context --clear --workspace ws.duckdb
    """
    from ringbreaker.workspace import guarded, open_workspace
    from ringbreaker.workspace.context import Context, load_context, read_context, store_context

    if clear and file is not None:
        raise UsageError("give FILE or --clear, not both")
    ctx = load_context(file) if file is not None else None
    con = open_workspace(workspace)
    try:
        with guarded(con, "context"):
            if ctx is not None or clear:
                store_context(con, ctx or Context())
            stored = read_context(con)
    finally:
        con.close()
    if ctx is not None or clear:
        if not quiet:
            click.echo(f"context: {describe(stored)} stored", err=True)
        sys.exit(EXIT_OK)
    doc = stored.to_document()
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        import yaml

        click.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)
    sys.exit(EXIT_OK)


def describe(ctx: object) -> str:
    """One line: how many networks, principals, accounts and model expectations."""
    from ringbreaker.workspace.context import Context

    assert isinstance(ctx, Context)
    return (
        f"{len(ctx.networks)} network(s), {len(ctx.principals)} principal(s), "
        f"{len(ctx.accounts)} account(s), {len(ctx.models)} model expectation(s)"
    )
