"""``ringbreaker demo``: the whole chain, out of the box, on a simulated world.

simulate → scan --history of the simulated public code → ingest of its telemetry → classify the
prompts → detect → attribute → case, all into one workspace under ``--out``. The chain is
``ringbreaker.pipeline.demo`` (the library calls the verbs make); this module prints each step and
ends with what a takedown team asks first: which keys leaked, which were abused and how soon, who
the crews are by role, what it cost, and where the case file is.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ringbreaker.model import Role


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Directory for the world, the workspace and the case files (recreated).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="World seed.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="World size (1: ~40k events).")
def demo(out: Path, seed: int, scale: float) -> None:
    """Run the whole pipeline on a simulated world with a planted ring and show the case.

    \b
    Writes OUT/world (the simulated logs, public code and truth.json), OUT/ringbreaker.duckdb (the
    workspace every stage wrote) and OUT/cases/<crew>/case.html, case.stix.json, case.json.
    Then try the verbs on it yourself, e.g.:
      ringbreaker detect --workspace demo-out/ringbreaker.duckdb --format table
      ringbreaker attribute --workspace demo-out/ringbreaker.duckdb --format json
    """
    from ringbreaker.pipeline import (
        Attributed,
        Cased,
        Classified,
        Detected,
        Ingested,
        Scanned,
        Simulated,
    )
    from ringbreaker.pipeline import demo as run_demo

    probe = Console()
    console = Console(width=probe.width if probe.is_terminal else 120)
    if out.exists():
        shutil.rmtree(out)

    t0 = time.monotonic()
    leaked: frozenset[str] = frozenset()
    crews, roles = 0, Counter[Role]()
    for step in run_demo(out, seed, scale):
        if isinstance(step, Simulated):
            summary = step.summary
            console.print(
                f"[bold]1 simulate[/]   {summary.events:,} events in {len(summary.counts)} log formats, "
                f"{summary.keys} keys, {summary.leaks} leaked into public code, "
                f"{summary.compromised} abused by {summary.crews} crew(s) → {step.world}"
            )
        elif isinstance(step, Scanned):
            leaked, stats = step.leaked, step.result.stats
            console.print(
                f"[bold]2 scan[/]       {len(leaked)} leaked key(s) in the history of {stats.repos} "
                f"repositories ({stats.commits} commits); {step.result.key_aliases} key id(s) from the "
                "owner's inventory"
            )
        elif isinstance(step, Ingested):
            report = step.report
            console.print(
                f"[bold]3 ingest[/]     {report.total('stored'):,} events stored from "
                f"{report.total('read'):,} records ({len({f.format for f in report.files if f.format})} "
                f"formats), {report.total('quarantined')} quarantined"
            )
        elif isinstance(step, Classified):
            sev = step.report.severity
            console.print(
                f"[bold]4 classify[/]   {step.report.scored:,} prompts scored: {sev['critical']} critical, "
                f"{sev['high']} high, {sev['medium']} medium"
            )
        elif isinstance(step, Detected):
            alerts = step.result.alerts
            by_sev: Counter[str] = Counter(a.severity for a in alerts)
            console.print(
                f"[bold]5 detect[/]     {len(alerts)} alerts ({by_sev['critical']} critical, "
                f"{by_sev['high']} high, {by_sev['medium']} medium) from {len(step.result.runs)} rules"
            )
        elif isinstance(step, Attributed):
            crews, roles = len(step.crews), step.roles
            console.print(
                f"[bold]6 attribute[/]  {crews} crew(s): {roles[Role.CREATOR]} creator, "
                f"{roles[Role.PROVIDER]} provider and {roles[Role.USER]} user entities"
            )
        elif isinstance(step, Cased):
            console.print(f"[bold]7 case[/]       {len(step.written)} case file(s) → {step.cases}")
    assert isinstance(step, Cased), "the chain ends with the case files"
    written, cases, keys = step.written, step.cases, step.keys

    table = Table(title="Stolen keys: leak → first abuse, by crew")
    for col in ("crew", "provider", "key", "victim", "leaked", "first abuse", "minutes", "events"):
        table.add_column(col, justify="right" if col in ("minutes", "events") else "left")
    for r in keys:
        table.add_row(*("" if v is None else str(v) for v in r))
    console.print(table)

    minutes = [float(r[6]) for r in keys if r[6] is not None]
    abused_leaks = sum(1 for r in keys if r[4])
    cost = sum(float(w.summary.get("cost_usd_estimated") or 0) for w in written)
    console.print(
        f"[bold]Summary[/]: {len(leaked)} keys leaked, {len(keys)} abused ({abused_leaks} of them leaked"
        + (
            f"; median {statistics.median(minutes):.0f} min from leak to abuse, fastest {min(minutes):.0f}"
            if minutes
            else ""
        )
        + f"); {crews} crew(s) with {roles[Role.CREATOR]} creator, {roles[Role.PROVIDER]} provider and "
        f"{roles[Role.USER]} user entities; estimated cost to victims ${cost:,.2f}."
    )
    first = next((w for w in written if w.crew_id != "unattributed"), written[0] if written else None)
    if first is not None:
        console.print(f"Case file: [bold]{first.dir / 'case.html'}[/] (all crews: {cases / 'index.html'})")
    console.print(f"Workspace {out / 'ringbreaker.duckdb'}; {time.monotonic() - t0:.1f} s in all.")
    console.print(
        f"Browse it: [bold]ringbreaker serve --workspace {out / 'ringbreaker.duckdb'}[/]", soft_wrap=True
    )
