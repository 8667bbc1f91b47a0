"""Benchmark ``ringbreaker serve``: latency per route under concurrent readers on a big workspace.

The workspace is the demo's (``ringbreaker demo --scale 1``: every stage wrote it, one crew) with
its events replicated in SQL up to ``--events`` rows (default 10M): each copy gets a new id and a
shifted time and keeps its key, address and user agent, so key, crew and search pages scan a table
of the target size. Then one ``ringbreaker serve`` process answers ``--readers`` concurrent clients
(threads with their own HTTP connection), route by route: p50 and p95 per route, the server's RSS
(current and peak) after the run, and how long the first snapshot took.

Results go to ``bench/out/serve.json`` and the ``## serve`` section of docs/benchmarks.md.

Usage::

    .venv/bin/python bench/serve.py                      # 10M events, 50 readers
    .venv/bin/python bench/serve.py --events 1000000     # smaller
    .venv/bin/python bench/serve.py --workspace W.duckdb # an existing workspace, as it is
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import OUT, machine, update_docs

RB = [sys.executable, "-m", "ringbreaker"]  # the package this interpreter imports (PYTHONPATH honoured)
TOKEN = "bench-serve-token-0123456789"

GROW = """
import sys, duckdb
ws, target = sys.argv[1], int(sys.argv[2])
con = duckdb.connect(ws)
base = con.execute("SELECT count(*) FROM events").fetchone()[0]
copies = max(0, -(-target // base) - 1)
con.execute("CREATE TEMP TABLE seed AS SELECT * FROM events")
step = 25  # copies per INSERT: one statement of about a million rows
for lo in range(1, copies + 1, step):
    hi = min(copies, lo + step - 1)
    con.execute(
        "INSERT INTO events SELECT s.* REPLACE (md5(s.id || '-' || r.range) AS id, "
        "s.time + to_minutes(r.range) AS time) FROM seed s, range(?, ?) r LIMIT ?",
        [lo, hi + 1, target - base * lo],
    )
print(con.execute("SELECT count(*) FROM events").fetchone()[0])
con.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.perf_counter()
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        r.read()
        return r.status, time.perf_counter() - t0
    finally:
        conn.close()


def routes(ws: Path) -> dict[str, str]:
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:

        def one(sql: str) -> str:
            row = con.execute(sql).fetchone()
            return str(row[0]) if row else "none"

        alert = one("SELECT id FROM alerts ORDER BY len(event_ids) DESC LIMIT 1")
        key = one("SELECT key_fingerprint FROM crew_keys ORDER BY events DESC LIMIT 1")
        crew = one("SELECT id FROM crews LIMIT 1")
        event = one("SELECT id FROM events WHERE prompt IS NOT NULL LIMIT 1")
        ip = one("SELECT src_ip FROM crew_members m JOIN events e ON e.src_ip = m.entity LIMIT 1")
    finally:
        con.close()
    return {
        "/": "/",
        "/alerts": "/alerts",
        "/alerts (filtered, sorted, page 2)": "/alerts?severity=high,critical&sort=count&per_page=10&page=2",
        "/alerts/{id}": f"/alerts/{alert}",
        "/keys/{fingerprint}": f"/keys/{key}",
        "/crews/{id}": f"/crews/{crew}",
        "/events/{id}": f"/events/{event}",
        "/search?q=IP": f"/search?q={ip}",
        "/api/alerts": "/api/alerts",
        "/api/keys/{fingerprint}": f"/api/keys/{key}",
        "/api/crews": "/api/crews",
        "/api/search?q=IP": f"/api/search?q={ip}",
    }


def load(port: int, path: str, readers: int, per_reader: int) -> dict[str, Any]:
    times: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()

    def reader() -> None:
        for _ in range(per_reader):
            status, took = get(port, path)
            with lock:
                times.append(took)
                if status != 200:
                    errors.append(status)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(times, n=20)
    return {
        "requests": len(times),
        "errors": len(errors),
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(q[18] * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "per_second": round(len(times) / wall, 1),
    }


def rss(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return {"rss_mb": fields.get("VmRSS", 0), "peak_rss_mb": fields.get("VmHWM", 0)}


def build(work: Path, events: int) -> tuple[Path, float]:
    t0 = time.perf_counter()
    demo = [*RB, "demo", "--out", str(work / "demo"), "--scale", "1"]
    subprocess.run(demo, check=True, capture_output=True)
    ws = work / "ws.duckdb"
    shutil.copy(work / "demo" / "ringbreaker.duckdb", ws)
    subprocess.run([sys.executable, "-c", GROW, str(ws), str(events)], check=True, capture_output=True)
    return ws, time.perf_counter() - t0


def run(ws: Path, readers: int, per_reader: int, work: Path) -> dict[str, Any]:
    port = free_port()
    err = (work / "serve.err").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*RB, "serve", "--workspace", str(ws), "--port", str(port), "-q", "--snapshot-dir", str(work / "s")],
        stderr=err,
        env=os.environ | {"RINGBREAKER_TOKEN": TOKEN},
    )
    try:
        while True:
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
            if proc.poll() is not None:
                raise SystemExit((work / "serve.err").read_text()[-2000:])
        started = time.perf_counter() - t0
        results = {}
        for name, path in routes(ws).items():
            status, cold = get(port, path)  # the first request pays the queries (then memoised per snapshot)
            results[name] = {"cold_ms": round(cold * 1000, 1), "cold_status": status}
            results[name] |= load(port, path, readers, per_reader)
            print(name, json.dumps(results[name]), file=sys.stderr)
        return {"start_seconds": round(started, 1), "routes": results, **rss(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        err.close()


def render(res: dict[str, Any]) -> str:
    lines = [
        "## serve",
        "",
        f"Measured {res['date']} on {res['machine']['cpu_model']} ({res['machine']['nproc']} cores), "
        f"load average {res['load']}. Reproduce with `.venv/bin/python bench/serve.py` "
        f"(`--events {res['events']}`).",
        "",
        f"One `ringbreaker serve` process over a workspace of {res['events']:,} events "
        f"({res['size_mb']:,} MB; the demo's events replicated in SQL), {res['readers']} concurrent readers, "
        f"{res['per_reader']} requests each per route. Start (first snapshot copy) {res['start_seconds']} s; "
        f"server RSS after the run {res['rss_mb']:,} MB (peak {res['peak_rss_mb']:,} MB).",
        "",
        "| route | first request ms | requests | errors | p50 ms | p95 ms | max ms | req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["routes"].items():
        lines.append(
            f"| `{name}` | {r['cold_ms']} | {r['requests']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['max_ms']} "
            f"| {r['per_second']} |"
        )
    lines += [
        "",
        "Target (issue 14): p95 < 300 ms per route on 10M events with 50 readers. *First request*: one "
        "request alone, before the readers, on a fresh snapshot: it runs the page's queries. The readers "
        "then ask for the same URLs, which the server memoises per snapshot (docs/serve.md), so their "
        "latency is the server's own overhead (routing, rendering, 50 clients on the same cores) more than "
        "DuckDB's. A refresh (a writer changed the workspace) starts the memo empty.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--per-reader", type=int, default=4)
    ap.add_argument("--workspace", type=Path, default=None, help="an existing workspace, served as it is")
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        if args.workspace:
            ws, build_s = args.workspace, 0.0
        else:
            ws, build_s = build(work, args.events)
        import duckdb

        con = duckdb.connect(str(ws), read_only=True)
        events = int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
        con.close()
        res = {
            "date": dt.date.today().isoformat(),
            "machine": machine(),
            "load": round(os.getloadavg()[0], 2),
            "events": events,
            "size_mb": round(ws.stat().st_size / 1e6),
            "build_seconds": round(build_s, 1),
            "readers": args.readers,
            "per_reader": args.per_reader,
            **run(ws, args.readers, args.per_reader, work),
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "serve.json").write_text(json.dumps(res, indent=2) + "\n")
    if not args.no_docs:
        update_docs(render(res))
    print(render(res))


if __name__ == "__main__":
    main()
