"""Benchmark ``ringbreaker serve``: latency per route under concurrent readers on a big workspace.

The workspace is the demo's (``ringbreaker demo --scale 1``: every stage wrote it) with
its events replicated in SQL up to ``--events`` rows (default 10M): each copy gets a new id and a
shifted time and keeps its key, address and user agent, so key, crew and search pages scan a table
of the target size. Then one ``ringbreaker serve`` process answers ``--readers`` concurrent clients
(threads with their own HTTP connection) that take URLs from one shuffled queue: many distinct URLs
per route (keys, alerts, crews, events, search terms, inbox pages), first each once (*cold*: the
server's per-snapshot memo misses and the page runs its queries), then all again (*warm*: memoised).
p50 and p95 per route and phase, the server's RSS (current and peak) after the run, and how long the
first snapshot (copy, index, summaries) took.

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
import queue
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def pools(ws: Path, per_route: int) -> dict[str, list[str]]:
    """Distinct URLs per route (up to ``per_route`` each): different keys, alerts, crews, events,
    search terms and inbox pages, so that the first time each is asked the server's memo misses."""
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:

        def col(sql: str) -> list[str]:
            return [str(r[0]) for r in con.execute(sql).fetchall()]

        n = per_route
        alerts = col(f"SELECT id FROM alerts ORDER BY len(event_ids) DESC, id LIMIT {n}")
        keys = col(
            f"SELECT key_fingerprint FROM events WHERE key_fingerprint IS NOT NULL GROUP BY 1 LIMIT {n}"
        )
        crews = col("SELECT id FROM crews ORDER BY id")
        events = col(f"SELECT id FROM events USING SAMPLE {n} ROWS (reservoir, 7)")
        ips = col(f"SELECT DISTINCT src_ip FROM events WHERE src_ip IS NOT NULL LIMIT {n}")
        words = col(f"SELECT DISTINCT user_agent FROM events WHERE user_agent IS NOT NULL LIMIT {n}")
        actors = col(f"SELECT DISTINCT actor FROM events WHERE actor IS NOT NULL LIMIT {n}")
    finally:
        con.close()
    terms = [*ips, *(w[:8] for w in words), *actors, *(k[:10] for k in keys)][: 2 * n]
    sevs = ["", "severity=high,critical&", "severity=critical&", "severity=low,medium&"]
    sorts = ["last_seen", "first_seen", "severity", "count", "rule"]
    inbox = [
        f"/alerts?{sev}sort={sort}&per_page=10&page={page}"
        for sev in sevs
        for sort in sorts
        for page in (1, 2, 3)
    ][:n]
    return {
        "/": ["/"],
        "/alerts (filters, sorts, pages)": inbox,
        "/alerts/{id}": [f"/alerts/{a}" for a in alerts],
        "/keys/{fingerprint}": [f"/keys/{k}" for k in keys],
        "/crews": ["/crews", "/crews?per_page=1&page=2"],
        "/crews/{id}": [f"/crews/{c}" for c in crews],
        "/events/{id}": [f"/events/{e}" for e in events],
        "/search?q=": [f"/search?q={quote(t)}" for t in terms],
        "/api/alerts": [f"/api/alerts?per_page=20&page={p}" for p in range(1, 4)],
        "/api/keys/{fingerprint}": [f"/api/keys/{k}" for k in keys],
        "/api/crews": ["/api/crews", "/api/crews?per_page=1"],
        "/api/search?q=": [f"/api/search?q={quote(t)}&per_page=10" for t in terms],
    }


def pct(times: list[float], p: float) -> float:
    """Nearest-rank percentile in ms."""
    ordered = sorted(times)
    return round(ordered[min(len(ordered) - 1, max(0, round(p * len(ordered) + 0.5) - 1))] * 1000, 1)


def load(port: int, work: list[tuple[str, str]], readers: int) -> dict[str, dict[str, Any]]:
    """``readers`` threads take (route, URL) pairs from one queue until it is empty; per route:
    requests, errors, p50, p95, max."""
    todo: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
    for item in work:
        todo.put(item)
    times: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def reader() -> None:
        while True:
            try:
                name, path = todo.get_nowait()
            except queue.Empty:
                return
            status, took = get(port, path)
            with lock:
                times.setdefault(name, []).append(took)
                errors[name] = errors.get(name, 0) + (status != 200)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        name: {
            "requests": len(ts),
            "errors": errors[name],
            "p50_ms": pct(ts, 0.5),
            "p95_ms": pct(ts, 0.95),
            "max_ms": round(max(ts) * 1000, 1),
        }
        for name, ts in times.items()
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


def run(ws: Path, readers: int, per_route: int, repeat: int, work: Path) -> dict[str, Any]:
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
        urls = pools(ws, per_route)
        alone = {}  # one URL per route asked by itself, nothing else running: the page's own cost
        for name, us in urls.items():
            status, took = get(port, us[0])
            alone[name] = {"ms": round(took * 1000, 1), "status": status}
        work = [(name, u) for name, us in urls.items() for u in us[1:] or us]
        random.Random(7).shuffle(work)
        cold = load(port, work, readers)  # every URL asked for the first time: the memo misses
        random.Random(8).shuffle(work)
        warm = load(port, work * repeat, readers)  # the same URLs again: answered from the memo
        results = {name: {"alone": alone[name], "cold": cold[name], "warm": warm[name]} for name in urls}
        for name, r in results.items():
            print(name, json.dumps(r), file=sys.stderr)
        return {"start_seconds": round(started, 1), "routes": results, **rss(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        err.close()


def render(res: dict[str, Any]) -> str:
    lines = [
        "## serve",
        "",
        f"Measured {res['date']} on {res['machine']['cpu_model']} ({res['machine']['nproc']} cores, shared "
        f"with other work), load average {res['load']} before and {res['load_after']} after. Reproduce with "
        f"`.venv/bin/python bench/serve.py` (`--events {res['events']}`).",
        "",
        "Data: `ringbreaker demo --scale 1` (one simulated world, every stage run) with its events "
        f"replicated in SQL to {res['events']:,} events ({res['size_mb']:,} MB; each copy a new id and a "
        "shifted time, same "
        f"keys, addresses and user agents). One `ringbreaker serve` process, {res['readers']} concurrent "
        f"readers (threads with their own connection, on the same 2 cores as the server) taking URLs from "
        f"one shuffled queue: up to {res['per_route']} distinct URLs per route (different keys, alerts, "
        "crews, events, search terms, inbox filters, sorts and pages). *Cold*: each URL asked for the first "
        "time on the snapshot, so the page runs its queries (the memo misses); *warm*: the same URLs "
        f"{res['repeat']} more times, answered from the per-snapshot memo. Start (copy, index, summaries) "
        f"{res['start_seconds']} s; server RSS after the run {res['rss_mb']:,} MB "
        f"(peak {res['peak_rss_mb']:,} MB).",
        "",
        "| route | alone ms | cold n | cold p50 ms | cold p95 ms | warm n | warm p50 ms | warm p95 ms "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["routes"].items():
        c, w = r["cold"], r["warm"]
        lines.append(
            f"| `{name}` | {r['alone']['ms']} | {c['requests']} | {c['p50_ms']} | {c['p95_ms']} "
            f"| {w['requests']} | {w['p50_ms']} "
            f"| {w['p95_ms']} | {c['errors'] + w['errors']} |"
        )
    lines += [
        "",
        "Target (issue 14): p95 < 300 ms per route on 10M events with 50 readers. *Alone*: one URL of the "
        "route, asked cold with nothing else running (the page's own queries and rendering). A crew or a "
        "route with few distinct URLs (`/`, `/crews`) has few cold samples: a snapshot has one cold "
        "overview.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--per-route", type=int, default=30, help="distinct URLs per route (at most)")
    ap.add_argument("--repeat", type=int, default=2, help="how many times the warm phase asks each URL")
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
            "per_route": args.per_route,
            "repeat": args.repeat,
            **run(ws, args.readers, args.per_route, args.repeat, work),
            "load_after": round(os.getloadavg()[0], 2),
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "serve.json").write_text(json.dumps(res, indent=2) + "\n")
    if not args.no_docs:
        update_docs(render(res))
    print(render(res))


if __name__ == "__main__":
    main()
