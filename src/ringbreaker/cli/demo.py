"""``ringbreaker demo``: the pipeline so far, out of the box, on a simulated world.

simulate → scan --history of the simulated public code → ingest of the simulated telemetry, all
into one workspace, then the join that ties the chain together: leaked keys (findings) whose
fingerprints turn up in the telemetry (events), and how soon after the leak. Later stages (detect,
classify, attribute, case) extend this command.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.rules.loader import load_secret_rules
from ringbreaker.scan.scanner import history_units, run_units, to_findings
from ringbreaker.scan.sources import ScanConfig, Stats
from ringbreaker.simulate import SimConfig, simulate
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.findings import upsert_findings

LEAK_TO_USE = """
WITH leaks AS (
    SELECT fingerprint, min(leak_time) AS leak_time, any_value(provider) AS provider,
           any_value(preview) AS preview
    FROM findings GROUP BY fingerprint
),
seen_before AS (  -- the networks the owner used the key from before it leaked
    SELECT DISTINCT l.fingerprint, e.src_ip
    FROM leaks l JOIN events e ON e.key_fingerprint = l.fingerprint AND e.time < l.leak_time
),
foreign_use AS (
    SELECT l.fingerprint, l.provider, l.preview, l.leak_time, e.time, e.src_ip
    FROM leaks l JOIN events e ON e.key_fingerprint = l.fingerprint AND e.time >= l.leak_time
    WHERE NOT EXISTS (SELECT 1 FROM seen_before b
                      WHERE b.fingerprint = l.fingerprint AND b.src_ip IS NOT DISTINCT FROM e.src_ip)
)
SELECT provider, preview, strftime(leak_time, '%Y-%m-%d %H:%M') AS leaked,
       strftime(min(time), '%Y-%m-%d %H:%M') AS first_foreign_use,
       round(date_diff('second', leak_time, min(time)) / 60.0, 1) AS minutes,
       count(*) AS events, count(DISTINCT src_ip) AS new_ips
FROM foreign_use
GROUP BY fingerprint, provider, preview, leak_time ORDER BY leak_time
"""


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Directory for the world and the workspace (recreated).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="World seed.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="World size (1: ~40k events).")
def demo(out: Path, seed: int, scale: float) -> None:
    """Run the pipeline on a simulated world: leaked keys found in git history, joined to their use
    in provider telemetry."""
    probe = Console()
    console = Console(width=probe.width if probe.is_terminal else 120)
    if out.exists():
        shutil.rmtree(out)
    world, ws = out / "world", out / "ringbreaker.duckdb"

    t0 = time.monotonic()
    summary = simulate(SimConfig(out=world, seed=seed, scale=scale))
    console.print(
        f"[bold]1 simulate[/]  {summary.events:,} events in {len(summary.counts)} log formats, "
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
        console.print(
            f"[bold]2 scan[/]      {len({f.fingerprint for f in findings})} leaked key(s) in the "
            f"history of {stats.repos} repositories ({stats.commits} commits)"
        )

        report = ingest(con, [world], IngestConfig())
        formats = sorted({f.format for f in report.files if f.format})
        console.print(
            f"[bold]3 ingest[/]    {report.total('stored'):,} events stored from "
            f"{report.total('read'):,} records ({', '.join(formats)}), "
            f"{report.total('quarantined')} quarantined"
        )

        rows = con.execute(LEAK_TO_USE).fetchall()
    finally:
        con.close()
    table = Table(
        title="Leaked keys used from networks their owner never used before the leak "
        "(findings ⋈ events on the key fingerprint)"
    )
    for col in ("provider", "key", "leaked", "first foreign use", "minutes", "events", "new IPs"):
        table.add_column(col, justify="right" if col in ("minutes", "events", "new IPs") else "left")
    for r in rows:
        table.add_row(*(str(v) for v in r))
    console.print(table)
    console.print(
        f"Workspace {ws} ({time.monotonic() - t0:.1f} s). Detection, classification, "
        "attribution and the case file arrive with the next stages."
    )
