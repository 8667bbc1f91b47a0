"""``ringbreaker demo``: the whole job on a bundled default, out of the box.

Until the simulate/attribute stages land, the demo makes a sample repository with fake keys,
scans its working tree and its history into a workspace, and prints what it found.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.console import Console

from ringbreaker.rules.loader import load_secret_rules
from ringbreaker.scan import report
from ringbreaker.scan.sample import make_sample_repo
from ringbreaker.scan.scanner import file_units, history_units, run_units, to_findings
from ringbreaker.scan.sources import ScanConfig, Stats
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.findings import upsert_findings


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Directory for the sample repository and the workspace (recreated).",
)
def demo(out: Path) -> None:
    """Run the pipeline on a generated sample: fake keys committed to a git repository, then found."""
    console = Console()
    if out.exists():
        shutil.rmtree(out)
    repo = out / "sample-repo"
    keys = make_sample_repo(repo)
    console.print(
        f"[bold]Sample repository[/] {repo}: {len(keys)} fake credentials planted in files, "
        "a notebook, a zip and git history (one committed, then removed)."
    )
    rules = load_secret_rules()
    cfg = ScanConfig()
    con = open_workspace(out / "ringbreaker.duckdb")
    for title, units_fn in (
        ("Working tree (.gitignore honoured)", file_units),
        ("Git history (every blob of every commit)", history_units),
    ):
        stats = Stats()
        hits, s = run_units(rules, cfg, list(units_fn([repo], cfg, stats)))
        stats.merge(s)
        findings = to_findings(rules, hits, stats)
        upsert_findings(con, findings)
        console.rule(title)
        report.write_table(findings, console.file)
    total = con.execute("SELECT count(*), count(DISTINCT fingerprint) FROM findings").fetchone()
    con.close()
    assert total is not None
    console.print(
        f"\nWorkspace {out / 'ringbreaker.duckdb'}: {total[0]} finding(s), {total[1]} distinct key(s)."
    )
    console.print(f"Try: ringbreaker scan --history {repo} --format sarif")
