"""Benchmark ``ringbreaker simulate`` and ``ringbreaker ingest`` on a simulated world.

1. ``simulate`` writes a world at ``--scale`` (150 is about 12M events): events/s, peak RSS.
2. ``ingest`` reads it into a fresh workspace, CloudTrail alone and then every other format:
   events/s (median of ``--runs``), peak RSS of the whole process tree.
3. The anchor: a bare DuckDB ``read_json`` of the same files (count only, no mapping, no storage;
   CloudTrail with an explicit three-field STRUCT schema, as auto-detection runs out of memory),
   run in the same session, so the ratio says what ringbreaker's mapping and storage cost.

Results go to ``bench/out/ingest.json`` and the ``## ingest`` section of ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/ingest.py               # scale 30 (~2M events), 3 ingest runs
    .venv/bin/python bench/ingest.py --scale 150   # ~12M events (the issue's 10M target)
    .venv/bin/python bench/ingest.py --quick       # scale 2, 1 run: smoke-test this script
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, MB, OUT, VENV_BIN, machine, measure, update_docs

RB = str(VENV_BIN / "ringbreaker")
PY = sys.executable
DEFAULT_SCALE = 30.0  # other scales get their own docs section and JSON file

DUCKDB_CLOUDTRAIL = """
import duckdb, sys
con = duckdb.connect()
q = ("SELECT count(*) FROM (SELECT unnest(Records) FROM read_json(?, columns={'Records': "
     "'STRUCT(eventID VARCHAR, eventTime VARCHAR, eventName VARCHAR)[]'}, maximum_object_size=268435456))")
n = con.execute(q, [sys.argv[1]]).fetchone()[0]
print(n)
"""
DUCKDB_NDJSON = """
import duckdb, sys
con = duckdb.connect()
files = open(sys.argv[1]).read().splitlines()
print(con.execute("SELECT count(*) FROM read_ndjson_objects(?)", [files]).fetchone()[0])
"""


def count_events(workspace: Path) -> int:
    import duckdb

    con = duckdb.connect(str(workspace), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def tree_bytes(*roots: Path) -> int:
    return sum(p.stat().st_size for r in roots for p in r.rglob("*") if p.is_file())


def run(
    argv: list[str], work: Path, label: str, timeout: float, ok: tuple[int, ...] = (0, 1)
) -> dict[str, Any]:
    m = measure(argv, work, work / f"{label}.out", work / f"{label}.err", timeout)
    if m.returncode not in ok:
        err = (work / f"{label}.err").read_text(errors="replace")[-2000:]
        raise SystemExit(f"{label} failed ({m.returncode}): {err}")
    return {
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "peak_rss_mb": m.peak_rss_bytes / MB,
        "stdout": (work / f"{label}.out").read_text(errors="replace"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=DEFAULT_SCALE)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    if args.quick:
        args.scale, args.runs = 2.0, 1

    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-", dir=CACHE))
    load_before = os.getloadavg()[0]
    world = work / "world"
    try:
        sims = []
        for i in range(args.runs):  # the disk here is noisy: the median of --runs worlds
            shutil.rmtree(world, ignore_errors=True)
            argv = [RB, "simulate", str(world), "--seed", str(args.seed), "--scale", str(args.scale), "-q"]
            sims.append(run(argv, work, f"simulate-{i}", args.timeout))
        sim = {
            "wall_s": statistics.median(r["wall_s"] for r in sims),
            "cpu_s": statistics.median(r["cpu_s"] for r in sims),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in sims),
            "runs_wall_s": [round(r["wall_s"], 2) for r in sims],
        }
        truth = json.loads((world / "truth.json").read_text())
        counts: dict[str, int] = truth["counts"]
        total = sum(counts.values())
        sim["events"] = total
        sim["events_per_s"] = total / sim["wall_s"]

        groups = {
            "cloudtrail": ([world / "aws" / "AWSLogs"], counts.get("cloudtrail", 0)),
            "other formats": (
                [world / "aws" / "bedrock-invocation", world / "azure", world / "gateway", world / "openai"],
                total - counts.get("cloudtrail", 0),
            ),
            # everything into one workspace: the peak-RSS target is for 10M events at once
            "whole world": ([world / "aws", world / "azure", world / "gateway", world / "openai"], total),
        }
        results: dict[str, Any] = {}
        for name, (candidates, expected) in groups.items():
            paths = [p for p in candidates if p.exists()]
            runs = []
            for i in range(args.runs):
                ws = work / f"ws-{i}.duckdb"
                ws.unlink(missing_ok=True)
                r = run(
                    [RB, "ingest", *map(str, paths), "--workspace", str(ws), "-q"],
                    work,
                    f"ingest-{name.replace(' ', '-')}-{i}",
                    args.timeout,
                )
                r["stored"] = count_events(ws)
                runs.append(r)
                ws.unlink(missing_ok=True)
            anchor: dict[str, Any] | None = None
            if name == "cloudtrail":
                anchor = run(
                    [PY, "-c", DUCKDB_CLOUDTRAIL, str(paths[0]) + "/**/*.json.gz"],
                    work,
                    "duckdb-cloudtrail",
                    args.timeout,
                )
            elif name == "other formats":
                listing = work / "other-files.txt"
                listing.write_text(
                    "\n".join(str(f) for p in paths for f in sorted(p.rglob("*")) if f.is_file())
                )
                anchor = run(
                    [PY, "-c", DUCKDB_NDJSON, str(listing)], work, "duckdb-other", args.timeout, ok=(0,)
                )
            wall = statistics.median(r["wall_s"] for r in runs)
            results[name] = {
                "expected_events": expected,
                "stored": runs[0]["stored"],
                "mb": tree_bytes(*paths) / MB,
                "wall_s_median": wall,
                "events_per_s": runs[0]["stored"] / wall,
                "cpu_us_per_event": statistics.median(r["cpu_s"] for r in runs)
                / max(runs[0]["stored"], 1)
                * 1e6,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "duckdb_read_json": None
                if anchor is None
                else {
                    "wall_s": anchor["wall_s"],
                    "rows": int(anchor["stdout"].split()[-1]),
                    "events_per_s": int(anchor["stdout"].split()[-1]) / anchor["wall_s"],
                },
                "runs": [{k: v for k, v in r.items() if k != "stdout"} for r in runs],
            }
        doc = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
            "machine": machine(),
            "scale": args.scale,
            "seed": args.seed,
            "simulate": sim,
            "ingest": results,
            "load": f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        }
        OUT.mkdir(parents=True, exist_ok=True)
        name = "ingest.json" if args.scale == DEFAULT_SCALE else f"ingest-scale{args.scale:g}.json"
        (OUT / name).write_text(json.dumps(doc, indent=2))
        section = render(doc)
        print(section)
        if not args.quick:  # a smoke test of this script, not a figure
            update_docs(section)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def render(doc: dict[str, Any]) -> str:
    sim, m = doc["simulate"], doc["machine"]
    lines = [
        "## ingest" + ("" if doc["scale"] == DEFAULT_SCALE else f" at scale {doc['scale']:g}"),
        "",
        f"Generated by `bench/ingest.py` on {doc['date']} UTC, scale {doc['scale']:g}, seed {doc['seed']}. "
        f"Machine: {m.get('nproc', '?')} cores ({m.get('cpu_model', '?')}), Python {m.get('python', '?')}.",
        "",
        f"`ringbreaker simulate`: {sim['events']:,} events in {sim['wall_s']:.1f} s (median of runs taking "
        f"{', '.join(f'{w:.1f}' for w in sim.get('runs_wall_s', [sim['wall_s']]))} s) = "
        f"**{sim['events_per_s']:,.0f} events/s** (target ≥ 200k), peak RSS {sim['peak_rss_mb']:.0f} MB.",
        "",
        "| input | events | MB on disk | ringbreaker ingest, events/s (median) | CPU µs/event "
        "| peak RSS (MB) | bare DuckDB read_json, events/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in doc["ingest"].items():
        a = r["duckdb_read_json"]
        anchor = "— | —" if a is None else (
            f"{a['events_per_s']:,.0f} | {r['events_per_s'] / a['events_per_s']:.2f}"
        )  # fmt: skip
        lines.append(
            f"| {name} | {r['stored']:,} (of {r['expected_events']:,}) | {r['mb']:.0f} "
            f"| {r['events_per_s']:,.0f} "
            f"| {r['cpu_us_per_event']:.1f} | {r['peak_rss_mb']:.0f} | {anchor} |"
        )
    lines += [
        "",
        f"Load average (1 min, 2 cores shared with other work): {doc.get('load', '?')}. "
        "Ingest stores every record with all mapped columns and cites its source file by reference "
        "(`raw` only where detection rules read it; issue 13); the anchor only counts "
        "records (DuckDB's reader on the same files, no mapping, no storage). `whole world` ingests every "
        "file of the world into one workspace (no anchor). Target: ≥ 300k CloudTrail events/s, peak RSS "
        "≤ 1.5 GB at 10M events. Peak RSS is the summed RSS of the process tree, sampled every 50 ms. "
        "`simulate` writes a file per account, region and 15 minutes (S3 layout): at scale 30 that is "
        "~19k files of ~100 records, and creating them takes most of its time in the kernel, which on "
        "this machine's disk varies up to 2x from run to run (the runs above); at scale 150 the files "
        "are bigger and the rate steadier.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
