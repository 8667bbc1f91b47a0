"""Benchmark the newer sources and `export`: gcp-audit and OCSF ingest speed, export speed.

1. ``gcp-audit``: ``--records`` LogEntries generated from tests/ingest/data/gcp-audit.jsonl by
   varying insertId, timestamp, caller IP, principal, model and method, written as sink objects
   (JSONL, 50k entries a file). Anchor: DuckDB ``read_json`` (newline-delimited, schema
   auto-detected) counting the same files.
2. ``ocsf``: as many OCSF records generated from tests/ingest/data/ocsf-security-lake.jsonl
   (uid, time, IP, key, operation varied) as Security Lake-style Parquet (zstd, 50k rows a file,
   row groups of 10k). Anchor: DuckDB ``read_parquet`` rendering every row with ``to_json`` (the
   first step of ringbreaker's reader) and summing the lengths.
3. ``export``: a simulated world (``--scale``) ingested, then ``ringbreaker export`` of the whole
   workspace. Anchor: DuckDB's own ``COPY (SELECT * FROM events) TO ... (FORMAT parquet,
   PARTITION_BY (source_format))`` on the same workspace.

Every command runs as a subprocess of this worktree's code (``PYTHONPATH=src``), measured by
harness.measure (wall, CPU, peak RSS of the tree), and the load average is recorded around each, as
the machine is shared. Results: ``bench/out/sources.json`` and the ``## sources`` section of
docs/benchmarks.md.

Usage::

    .venv/bin/python bench/sources.py                  # 300k records each, world scale 10
    .venv/bin/python bench/sources.py --quick          # 20k records, scale 0.5: smoke test
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import MB, OUT, ROOT, machine, measure, update_docs

sys.path.insert(0, str(ROOT))
PY = sys.executable
DATA = ROOT / "tests" / "ingest" / "data"
PER_FILE = 50_000

DUCKDB_JSON = """
import duckdb, sys
files = open(sys.argv[1]).read().splitlines()
q = "SELECT count(*) FROM read_json(?, format='newline_delimited')"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(con.execute(q, [files]).fetchone()[0])
"""
DUCKDB_PARQUET = """
import duckdb, sys
files = open(sys.argv[1]).read().splitlines()
q = "SELECT count(*), sum(length(to_json(t)::VARCHAR)) FROM read_parquet(?) t"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(con.execute(q, [files]).fetchone()[0])
"""
DUCKDB_COPY = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET enable_progress_bar = false")
opts = "FORMAT parquet, COMPRESSION zstd, PARTITION_BY (source_format)"
con.execute(f"COPY (SELECT * FROM events) TO '{sys.argv[2]}' ({opts})")
print(con.execute("SELECT count(*) FROM events").fetchone()[0])
"""


def _ip(i: int) -> str:
    return f"{11 + i % 200}.{(i >> 8) % 256}.{(i >> 16) % 256}.{i % 254 + 1}"


def gcp_files(out: Path, n: int) -> list[Path]:
    """``n`` LogEntries varied from the fixture's five, in sink objects of PER_FILE lines."""
    base = [json.loads(x) for x in (DATA / "gcp-audit.jsonl").read_text().splitlines()]
    start = dt.datetime(2025, 5, 6, tzinfo=dt.UTC)
    models = ["gemini-2.0-flash-001", "gemini-2.5-pro", "gemini-2.5-flash", "text-embedding-005"]
    files: list[Path] = []
    out.mkdir(parents=True)
    for f0 in range(0, n, PER_FILE):
        path = out / f"cloudaudit.googleapis.com/data_access/2025/05/06/{f0 // PER_FILE:02d}:00:00_S{f0}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for i in range(f0, min(n, f0 + PER_FILE)):
                e = copy.deepcopy(base[i % len(base)])
                p = e["protoPayload"]
                e["insertId"] = f"{i:012x}"
                e["timestamp"] = (
                    (start + dt.timedelta(milliseconds=37 * i)).isoformat().replace("+00:00", "Z")
                )
                p["requestMetadata"]["callerIp"] = _ip(i)
                if "serviceAccountKeyName" in p["authenticationInfo"]:
                    p["authenticationInfo"]["principalEmail"] = (
                        f"sa-{i % 997}@proj-{i % 31}.iam.gserviceaccount.com"
                    )
                    p["authenticationInfo"]["serviceAccountKeyName"] = (
                        f"//iam.googleapis.com/k/keys/{i % 4093:040x}"
                    )
                if "publishers" in p["resourceName"]:
                    p["resourceName"] = p["resourceName"].rsplit("/", 1)[0] + "/" + models[i % len(models)]
                fh.write(json.dumps(e, separators=(",", ":")) + "\n")
        files.append(path)
    return files


def ocsf_files(out: Path, n: int) -> list[Path]:
    """``n`` OCSF records varied from the fixture's four, as Security Lake-style Parquet."""
    from tests.ingest.ocsf_lake import records, write_lake_parquet

    base = records()
    ops = [
        "InvokeModel",
        "InvokeModelWithResponseStream",
        "Converse",
        "ListFoundationModels",
        "GetCallerIdentity",
    ]
    files: list[Path] = []
    for f0 in range(0, n, PER_FILE):
        recs = []
        for i in range(f0, min(n, f0 + PER_FILE)):
            r = copy.deepcopy(base[i % len(base)])
            r["metadata"]["uid"] = f"{i:08x}-0000-4000-8000-000000000000"
            r["time"] = 1741598042000 + 250 * i
            r["time_dt"] = dt.datetime.fromtimestamp(r["time"] / 1000, dt.UTC).isoformat()
            r["src_endpoint"]["ip"] = _ip(i)
            r["actor"]["user"]["credential_uid"] = f"AKIA{i % 5003:016d}"
            r["api"]["operation"] = ops[i % len(ops)]
            recs.append(r)
        path = (
            out
            / "region=us-east-1/accountId=111122223333/eventDay=20250310"
            / f"part-{f0 // PER_FILE:04d}.zstd.parquet"
        )
        files.append(write_lake_parquet(path, recs, row_group=10_000))
    return files


def timed(argv: list[str], work: Path, label: str) -> dict[str, Any]:
    before = os.getloadavg()[0]
    m = measure(argv, work, work / f"{label}.out", work / f"{label}.err", 3600)
    if m.returncode not in (0, 1):
        raise SystemExit(f"{label} failed: {(work / f'{label}.err').read_text()[-2000:]}")
    return {
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "peak_rss_mb": m.peak_rss_bytes / MB,
        "load_before": before,
        "load_after": os.getloadavg()[0],
        "stdout": (work / f"{label}.out").read_text(),
    }


def _count(ws: Path) -> int:
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        return int((con.execute("SELECT count(*) FROM events").fetchone() or (0,))[0])
    finally:
        con.close()


def ingest_case(work: Path, name: str, files: list[Path], anchor: str) -> dict[str, Any]:
    ws = work / f"{name}.duckdb"
    run = timed(
        [PY, "-m", "ringbreaker", "ingest", *map(str, files), "--workspace", str(ws), "-q"], work, name
    )
    listing = work / f"{name}-files.txt"
    listing.write_text("\n".join(map(str, files)))
    base = timed([PY, "-c", anchor, str(listing)], work, f"{name}-duckdb")
    stored = _count(ws)
    rows = int(base["stdout"].split()[-1])
    return {
        "stored": stored,
        "mb": sum(f.stat().st_size for f in files) / MB,
        "ringbreaker": {k: v for k, v in run.items() if k != "stdout"}
        | {"events_per_s": stored / run["wall_s"]},
        "duckdb": {k: v for k, v in base.items() if k != "stdout"}
        | {"rows": rows, "events_per_s": rows / base["wall_s"]},
    }


def export_case(work: Path, scale: float) -> dict[str, Any]:
    world, ws = work / "world", work / "world.duckdb"
    timed([PY, "-m", "ringbreaker", "simulate", str(world), "--scale", str(scale), "-q"], work, "simulate")
    timed([PY, "-m", "ringbreaker", "ingest", str(world), "--workspace", str(ws), "-q"], work, "world-ingest")
    n = _count(ws)
    run = timed(
        [PY, "-m", "ringbreaker", "export", "--workspace", str(ws), "--out", str(work / "lake"), "-q"],
        work,
        "export",
    )
    base = timed([PY, "-c", DUCKDB_COPY, str(ws), str(work / "copy")], work, "export-duckdb")
    lake_mb = sum(p.stat().st_size for p in (work / "lake").rglob("*.parquet")) / MB
    return {
        "events": n,
        "workspace_mb": ws.stat().st_size / MB,
        "lake_mb": lake_mb,
        "ringbreaker": {k: v for k, v in run.items() if k != "stdout"} | {"events_per_s": n / run["wall_s"]},
        "duckdb": {k: v for k, v in base.items() if k != "stdout"} | {"events_per_s": n / base["wall_s"]},
    }


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "## sources",
        "",
        f"Generated by `bench/sources.py` on {doc['date']} UTC: {doc['records']:,} records per format, "
        "generated "
        "from the test fixtures by varying ids, times, addresses, principals, keys, models and operations "
        f"(see the script); export of a simulated world at scale {doc['scale']:g}. Machine: "
        f"{m.get('nproc', '?')} cores ({m.get('cpu_model', '?')}), shared: the 1-minute load average "
        "before/after each run is given.",
        "",
        "| run | events | MB in | ringbreaker events/s | CPU s | peak RSS MB | load | DuckDB alone events/s "
        "| load | ratio |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for name, r in doc["runs"].items():
        a, b = r["ringbreaker"], r["duckdb"]
        lines.append(
            f"| {name} | {r.get('stored', r.get('events', 0)):,} "
            f"| {r.get('mb', r.get('workspace_mb', 0)):.1f} "
            f"| {a['events_per_s']:,.0f} | {a['cpu_s']:.1f} | {a['peak_rss_mb']:.0f} "
            f"| {a['load_before']:.1f}→{a['load_after']:.1f} | {b['events_per_s']:,.0f} "
            f"| {b['load_before']:.1f}→{b['load_after']:.1f} | {a['events_per_s'] / b['events_per_s']:.2f} |"
        )
    lines += [
        "",
        "ringbreaker's ingest maps, de-duplicates and stores every record with its raw JSON; the DuckDB "
        "anchors only read: `read_json` counting the GCP files (schema auto-detected), `read_parquet` "
        "rendering every OCSF row `to_json` (the first step of ringbreaker's Parquet reader). The export "
        "anchor is DuckDB's own partitioned "
        "`COPY` of `events` as it is (no OCSF columns, no type checks, no other tables).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.records, args.scale = 20_000, 0.5
    os.environ["PYTHONPATH"] = str(ROOT / "src")  # this worktree's code, not an installed one
    work = Path(tempfile.mkdtemp(prefix="rb-bench-sources-"))
    try:
        runs = {
            "gcp-audit ingest (JSONL)": ingest_case(
                work, "gcp", gcp_files(work / "gcp", args.records), DUCKDB_JSON
            ),
            "ocsf ingest (Parquet)": ingest_case(
                work, "ocsf", ocsf_files(work / "ocsf", args.records), DUCKDB_PARQUET
            ),
            "export (simulated world)": export_case(work, args.scale),
        }
        doc = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
            "machine": machine(),
            "records": args.records,
            "scale": args.scale,
            "runs": runs,
        }
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / ("sources-quick.json" if args.quick else "sources.json")).write_text(json.dumps(doc, indent=2))
        section = render(doc)
        print(section)
        if not args.quick:
            update_docs(section)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
