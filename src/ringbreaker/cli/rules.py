"""``ringbreaker rules``: list the rules and run their own examples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ringbreaker.rules.check import check_secret_rules
from ringbreaker.rules.loader import load_secret_rules

extra_rules_option = click.option(
    "--rules",
    "extra",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra rule file or directory, added to the built-in rules (repeatable).",
)


@click.group()
def rules() -> None:
    """List and check rules (rules are data: YAML files with their own examples)."""


@rules.command("list")
@extra_rules_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "jsonl"]), default="table", show_default=True
)
def list_rules(extra: tuple[Path, ...], fmt: str) -> None:
    """List every secret rule: id, provider, confidence, whether it needs the provider named nearby."""
    loaded = load_secret_rules(extra)
    rows = [r.summary() for r in loaded]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row))
    else:
        t = Table(title=f"{len(rows)} secret rules")
        for col in ("id", "provider", "title", "confidence", "context"):
            t.add_column(col)
        for row in rows:
            t.add_row(
                row["id"], row["provider"], row["title"], row["confidence"], "yes" if row["context"] else ""
            )
        Console().print(t)


@rules.command("check")
@extra_rules_option
@click.option("-v", "--verbose", is_flag=True, help="Show every example, not only failures.")
def check(extra: tuple[Path, ...], verbose: bool) -> None:
    """Validate every rule against its schema and run its positive and negative examples on both
    engines (Hyperscan and re). Exit 1 if any example fails."""
    loaded = load_secret_rules(extra)
    results = check_secret_rules(loaded)
    failed = [r for r in results if not r.ok]
    for r in results if verbose else failed:
        mark = "ok  " if r.ok else "FAIL"
        click.echo(f"{mark} {r.rule} {r.kind}[{r.index}] ({r.engine}) {r.detail}".rstrip())
    click.echo(f"{len(loaded)} rules, {len(results)} example runs, {len(failed)} failed", err=True)
    sys.exit(1 if failed else 0)
