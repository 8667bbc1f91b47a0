"""Regression check for ingest speed work: old code and new code store the same tables, and how fast each is.

A simulated world (``ringbreaker simulate``; give ``--world DIR`` to reuse one) is ingested by two
copies of the source tree, the old one (``--old SRC``, e.g. ``git archive <commit> src | tar -x``)
and this checkout's ``src``, into fresh workspaces, alternating run by run so the machine's load
falls on both alike, in both modes (evidence by reference, the default, and ``--keep-raw``). For
each workspace it computes the row count and one MD5 over every stored column of ``events`` (rows
in id order), of ``quarantine`` (but its ``ingested_at``), of ``ingested_files`` (but
``finished_at``) and of ``evidence`` (but ``store`` and ``added``, which name the run's own
workspace and time). Same input must give the same hashes; the script exits 1 when they differ.

Usage (from the repository root)::

    git archive <old-commit> src | tar -x -C /tmp/old
    .venv/bin/python bench/ingest_same.py --old /tmp/old/src --scale 10 --runs 2
    .venv/bin/python bench/ingest_same.py --old /tmp/old/src --world /tmp/world --inputs aws/AWSLogs

Results: ``bench/out/ingest_same.json``; the table is printed (paste it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, MB, OUT, machine, measure, median_of

ROOT = Path(__file__).resolve().parents[1]
MODES = {"by reference": [], "--keep-raw": ["--keep-raw"]}
# table -> columns left out of its hash (they name the run: its time, its workspace's directory)
TABLES = {
    "events": (),
    "quarantine": ("ingested_at",),
    "ingested_files": ("finished_at",),
    "evidence": ("store", "added"),
}
ORDER = {
    "events": "id",
    "quarantine": "source_file, source_offset, reason",
    "ingested_files": "path",
    "evidence": "sha256, source_file",
}


def table_hashes(ws: Path) -> dict[str, list[Any]]:
    """(rows, md5 over the stored columns in a fixed row order) per table."""
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    out: dict[str, list[Any]] = {}
    try:
        for table, skip in TABLES.items():
            cols = [
                str(r[0])
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "ORDER BY ordinal_position",
                    [table],
                ).fetchall()
                if str(r[0]) not in skip
            ]
            if not cols:
                continue
            row = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '\\N')" for c in cols)
            got = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(md5(concat_ws(chr(31), {row})), '' "
                f"ORDER BY {ORDER[table]}), '')) FROM {table}"
            ).fetchone()
            assert got is not None
            out[table] = [int(got[0]), str(got[1])]
    finally:
        con.close()
    return out


def one(src: Path, inputs: list[Path], mode: str, work: Path, i: int, timeout: float) -> dict[str, Any]:
    ws = work / f"ws-{i}.duckdb"
    env_path = str(src)
    argv = [sys.executable, "-m", "ringbreaker", "ingest", *map(str, inputs), "--workspace", str(ws), "-q"]
    old_env = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env_path
    try:
        m = measure([*argv, *MODES[mode]], work, work / f"{i}.out", work / f"{i}.err", timeout)
    finally:
        if old_env is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_env
    if m.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({m.returncode}): {(work / f'{i}.err').read_text()[-2000:]}")
    hashes = table_hashes(ws)
    shutil.rmtree(ws.with_name(ws.name + ".evidence"), ignore_errors=True)
    ws.unlink()
    ws.with_name(ws.name + ".wal").unlink(missing_ok=True)
    n = hashes["events"][0]
    return {
        "wall_s": round(m.wall_s, 3),
        "cpu_s": round(m.cpu_s, 3),
        "events_per_s": round(n / m.wall_s) if m.wall_s else 0,
        "peak_rss_mb": round(m.peak_rss_bytes / MB),
        "tables": hashes,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, type=Path, help="the old code's src directory")
    ap.add_argument("--world", type=Path, help="a simulated world to reuse (else one is simulated)")
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--inputs", nargs="*", default=["aws/AWSLogs", "."], help="paths inside the world")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-same-", dir=CACHE))
    codes = {"old": args.old.resolve(), "new": ROOT / "src"}
    try:
        world = args.world
        if world is None:
            world = work / "world"
            os.environ["PYTHONPATH"] = str(ROOT / "src")
            sim = [sys.executable, "-m", "ringbreaker", "simulate", str(world)]
            m = measure(
                [*sim, "--seed", str(args.seed), "--scale", str(args.scale), "-q"],
                work, work / "sim.out", work / "sim.err", args.timeout,
            )  # fmt: skip
            if m.returncode != 0:
                raise SystemExit((work / "sim.err").read_text()[-2000:])
        load_before = os.getloadavg()
        results: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
        i = 0
        for rel in args.inputs:
            results[rel] = {mode: {c: [] for c in codes} for mode in MODES}
            for _ in range(args.runs):
                for mode in MODES:
                    for code in ("old", "new") if i % 2 == 0 else ("new", "old"):
                        i += 1
                        got = one(codes[code], [world / rel], mode, work, i, args.timeout)
                        results[rel][mode][code].append(got)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = all(
        r["tables"] == runs["old"][0]["tables"]
        for modes in results.values()
        for runs in modes.values()
        for code in runs.values()
        for r in code
    )
    doc = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
        "world": str(args.world) if args.world else f"simulate --scale {args.scale:g} --seed {args.seed}",
        "machine": machine(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "same": same,
        "results": results,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest_same.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(render(doc))
    return 0 if same else 1


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"Old against new code on `{doc['world']}` (simulated data), load average "
        f"{doc['load_before'][0]} before, {doc['load_after'][0]} after (1 min), "
        f"{doc['machine'].get('nproc', '?')} shared cores. Stored tables identical: "
        f"**{'yes' if doc['same'] else 'NO'}**.",
        "",
        "| input | mode | events | old events/s (median) | new events/s (median) | old CPU s | new CPU s "
        "| old / new peak RSS MB | events md5 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rel, modes in doc["results"].items():
        for mode, codes in modes.items():
            old, new = codes["old"], codes["new"]

            ev = new[0]["tables"]["events"]
            rate, cpu, rss = (
                (median_of(old, key), median_of(new, key)) for key in ("events_per_s", "cpu_s", "peak_rss_mb")
            )
            lines.append(
                f"| {rel} | {mode} | {ev[0]:,} | {rate[0]:,.0f} | {rate[1]:,.0f} | {cpu[0]:.1f} | "
                f"{cpu[1]:.1f} | {rss[0]:,.0f} / {rss[1]:,.0f} | `{ev[1][:12]}` |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
