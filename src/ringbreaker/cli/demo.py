"""``ringbreaker demo``: the whole chain, out of the box, on a simulated world.

simulate → scan --history of the simulated public code → ingest of its telemetry → classify the
prompts → detect → attribute → case, all into one workspace under ``--out``, through the same
library calls the verbs use. It ends with what a takedown team asks first: which keys leaked, which
were abused and how soon, who the crews are by role, what it cost, and where the case file is.
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
    from ringbreaker.attribute import AttributeConfig, attribute
    from ringbreaker.case import write_cases
    from ringbreaker.classify.model import default_model
    from ringbreaker.classify.workspace import score_workspace
    from ringbreaker.detect.runner import detect
    from ringbreaker.ingest import IngestConfig, ingest
    from ringbreaker.rules.detections import load_detection_rules
    from ringbreaker.rules.loader import load_secret_rules
    from ringbreaker.scan.scanner import history_units, run_units, to_findings
    from ringbreaker.scan.sources import ScanConfig, Stats
    from ringbreaker.simulate import SimConfig, simulate
    from ringbreaker.workspace import open_workspace
    from ringbreaker.workspace.findings import upsert_findings

    probe = Console()
    console = Console(width=probe.width if probe.is_terminal else 120)
    if out.exists():
        shutil.rmtree(out)
    world, ws, cases = out / "world", out / "ringbreaker.duckdb", out / "cases"

    t0 = time.monotonic()
    summary = simulate(SimConfig(out=world, seed=seed, scale=scale))
    console.print(
        f"[bold]1 simulate[/]   {summary.events:,} events in {len(summary.counts)} log formats, "
        f"{summary.keys} keys, {summary.leaks} leaked into public code, "
        f"{summary.compromised} abused by {summary.crews} crew(s) → {world}"
    )

    rules, cfg, stats = load_secret_rules(), ScanConfig(), Stats()
    hits, s = run_units(rules, cfg, list(history_units([world / "public-code"], cfg, stats)))
    stats.merge(s)
    findings = to_findings(rules, hits, stats)
    con = open_workspace(ws)
    try:
        upsert_findings(con, findings)
        leaked = {f.fingerprint for f in findings}
        console.print(
            f"[bold]2 scan[/]       {len(leaked)} leaked key(s) in the history of {stats.repos} "
            f"repositories ({stats.commits} commits)"
        )

        report = ingest(con, [world], IngestConfig())
        console.print(
            f"[bold]3 ingest[/]     {report.total('stored'):,} events stored from "
            f"{report.total('read'):,} records ({len({f.format for f in report.files if f.format})} "
            f"formats), {report.total('quarantined')} quarantined"
        )

        verdicts = score_workspace(con, default_model())
        sev = verdicts.severity
        console.print(
            f"[bold]4 classify[/]   {verdicts.scored:,} prompts scored: {sev['critical']} critical, "
            f"{sev['high']} high, {sev['medium']} medium"
        )

        result = detect(con, load_detection_rules())
        by_sev: Counter[str] = Counter(a.severity for a in result.alerts)
        console.print(
            f"[bold]5 detect[/]     {len(result.alerts)} alerts ({by_sev['critical']} critical, "
            f"{by_sev['high']} high, {by_sev['medium']} medium) from {len(result.runs)} rules"
        )

        attribution = attribute(con, AttributeConfig(code=(world / "public-code",)))
        crews = [c for c in attribution.crews if c.members]
        roles = Counter(m.role for c in crews for m in c.members)
        roles["user"] += sum(c.user_count for c in crews)  # end users are written by SQL, counted here
        console.print(
            f"[bold]6 attribute[/]  {len(crews)} crew(s): {roles['creator']} creator, "
            f"{roles['provider']} provider and {roles['user']} user entities"
        )

        written = write_cases(con, cases, workspace=str(ws))
        console.print(f"[bold]7 case[/]       {len(written)} case file(s) → {cases}")
        keys = con.execute(
            "SELECT c.name, k.provider, coalesce(k.preview, left(k.key_fingerprint, 12) || '…'), k.victim, "
            "strftime(k.leak_time, '%Y-%m-%d %H:%M'), strftime(k.first_abuse, '%Y-%m-%d %H:%M'), "
            "round(k.minutes_to_abuse, 1), k.events FROM crew_keys k JOIN crews c ON c.id = k.crew_id "
            "ORDER BY k.leak_time NULLS LAST, k.first_abuse"
        ).fetchall()
    finally:
        con.close()

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
        + f"); {len(crews)} crew(s) with {roles['creator']} creator, {roles['provider']} provider and "
        f"{roles['user']} user entities; estimated cost to victims ${cost:,.2f}."
    )
    first = next((w for w in written if w.crew_id != "unattributed"), written[0] if written else None)
    if first is not None:
        console.print(f"Case file: [bold]{first.dir / 'case.html'}[/] (all crews: {cases / 'index.html'})")
    console.print(f"Workspace {ws}; {time.monotonic() - t0:.1f} s in all.")
