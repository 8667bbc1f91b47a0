"""Event-to-alert latency of ``ringbreaker watch``: a simulated world's logs replayed into a watched
folder at real time x ``--speed``, alerts caught by a webhook on 127.0.0.1.

1. ``simulate`` writes a world (``--seed``, ``--scale``, ``--days``).
2. Each log record gets a wall-clock moment: (its event time - the world's start) / speed. JSONL
   files (LiteLLM SpendLogs, the OpenAI audit log, Azure diagnostic and activity ``PT1H.json``) are
   appended line by line at their records' moments, as a gateway or Azure's export writes them;
   gzip objects (CloudTrail, Bedrock invocation logs) are copied whole (hidden name, then rename, as
   ``aws s3 sync`` does) at the moment of their last record, when the shipper would deliver them.
   The moment each line and each file landed is recorded.
3. ``ringbreaker watch OUT --webhook URL`` runs as its own process the whole time; a threaded
   ``http.server`` records when each alert revision arrived.
4. Afterwards the workspace says, per stored event, which file and line it came from, so each
   delivered alert's evidence maps to the moments its events were written. Latency of a new alert:
   delivery time - the moment its latest-written evidence event landed (the event that completed
   it; a lower bound when more evidence arrived before the detect run that raised it), and, as an
   upper bound, - the moment its earliest evidence event landed. Time to deliver the webhook is in.

Results go to ``bench/out/watch.json`` and the ``## watch`` section of ``docs/benchmarks.md``.

Usage::

    python bench/watch.py                           # 7 days at 3600x (~3 min), scale 1
    python bench/watch.py --speed 600 --days 1      # one day at 600x (~144 s)
    python bench/watch.py --quick                   # 1 day at 7200x, scale 0.3: smoke-test this script
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import OUT, ROOT, log, machine, update_docs

TIME_KEYS = ("eventTime", "timestamp", "time", "startTime", "effective_at")


def _moment(rec: dict[str, Any]) -> float | None:
    """A record's event time as epoch seconds, whatever its format."""
    for k in TIME_KEYS:
        v = rec.get(k)
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, str) and v:
            try:
                return dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def schedule(world: Path) -> tuple[list[tuple[float, str, Path, bytes | None]], int]:
    """(event time, kind, source file, line) for every line of the JSONL files and every gzip object
    (line None, at its last record's time), in time order; and how many records they hold."""
    items: list[tuple[float, str, Path, bytes | None]] = []
    records = 0
    for path in sorted(world.rglob("*")):
        if not path.is_file() or "public-code" in path.parts or path.name == "truth.json":
            continue
        if path.suffix == ".gz":
            data = gzip.decompress(path.read_bytes())
            recs: list[dict[str, Any]] = []
            if data.lstrip().startswith(b'{"Records"'):
                recs = json.loads(data)["Records"]
            else:
                recs = [json.loads(x) for x in data.splitlines() if x.strip()]
            records += len(recs)
            last = max((t for t in map(_moment, recs) if t is not None), default=None)
            if last is not None:
                items.append((last, "file", path, None))
            continue
        for line in path.read_bytes().splitlines(keepends=True):
            if line.strip():
                t = _moment(json.loads(line))
                if t is not None:
                    items.append((t, "line", path, line))
                    records += 1
    items.sort(key=lambda x: x[0])
    return items, records


class Hook:
    """A webhook that accepts everything and records when each (alert id, revision) arrived."""

    def __init__(self) -> None:
        self.got: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
        self.requests = 0
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                now = time.time()
                with hook.lock:
                    hook.requests += 1
                    hook.got.setdefault((body["id"], body["revision"]), (now, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def replay(
    items: list[tuple[float, str, Path, bytes | None]], world: Path, out: Path, speed: float
) -> dict[Any, float]:
    """Write every item at its moment; return when each (file, line number) or file landed."""
    t0, w0 = items[0][0], time.time()
    landed: dict[Any, float] = {}
    lines: dict[Path, int] = {}
    handles: dict[Path, Any] = {}
    try:
        for t, kind, src, line in items:
            due = w0 + (t - t0) / speed
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            dest = out / src.relative_to(world)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                tmp = dest.with_name("." + dest.name + ".sync")
                shutil.copyfile(src, tmp)
                os.replace(tmp, dest)
                landed[str(dest)] = time.time()
                continue
            fh = handles.get(dest)
            if fh is None:
                fh = handles[dest] = dest.open("ab", buffering=0)
            fh.write(line)
            lines[dest] = lines.get(dest, 0) + 1
            landed[(str(dest), lines[dest])] = time.time()
    finally:
        for fh in handles.values():
            fh.close()
    return landed


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--speed", type=float, default=3600.0, help="replay at real time x this")
    ap.add_argument("--interval", type=float, default=15.0, help="watch --interval (its default)")
    ap.add_argument("--poll", type=float, default=2.0, help="watch --poll (its default)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.days, args.scale, args.speed = 1, 0.3, 7200.0
    tmp = Path(tempfile.mkdtemp(prefix="rb-watch-bench-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("RINGBREAKER_WORKSPACE", None)
    rb = [sys.executable, "-m", "ringbreaker"]
    try:
        world, out, ws = tmp / "world", tmp / "watched", tmp / "ws.duckdb"
        log(f"simulate seed {args.seed} scale {args.scale} days {args.days}")
        subprocess.run([*rb, "simulate", str(world), "--seed", str(args.seed), "--scale", str(args.scale),
                        "--days", str(args.days), "-q"], check=True, env=env)  # fmt: skip
        items, records = schedule(world)
        out.mkdir()
        hook = Hook()
        load_before = os.getloadavg()
        err = (tmp / "watch.err").open("wb")
        proc = subprocess.Popen(
            [*rb, "watch", str(out), "--workspace", str(ws), "--webhook", hook.url,
             "--interval", str(args.interval), "--poll", str(args.poll)],
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )  # fmt: skip
        time.sleep(3)  # let it start (imports) before the first record lands
        span = (items[-1][0] - items[0][0]) / args.speed
        log(f"replaying {len(items)} items over {span:.0f}s at {args.speed:g}x")
        started = time.time()
        landed = replay(items, world, out, args.speed)
        replayed = time.time() - started
        quiet_since, seen = time.time(), -1
        while time.time() - quiet_since < 2 * args.interval + 10:  # until deliveries stop
            with hook.lock:
                n = len(hook.got)
            if n != seen:
                quiet_since, seen = time.time(), n
            time.sleep(0.5)
        load_after = os.getloadavg()
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        err.close()
        result = score(ws, hook, landed)
        result.update(
            seed=args.seed, scale=args.scale, days=args.days, speed=args.speed, interval=args.interval,
            poll=args.poll, items=len(items), events_written=records, replay_seconds=round(replayed, 1),
            loadavg_before=[round(x, 2) for x in load_before],
            loadavg_after=[round(x, 2) for x in load_after],
            watch_exit=proc.returncode, machine=machine(),
            when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        )  # fmt: skip
        print(json.dumps(result, indent=2))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "watch.json").write_text(json.dumps(result, indent=2) + "\n")
        if not args.quick:
            update_docs(section(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def score(ws: Path, hook: Hook, landed: dict[Any, float]) -> dict[str, Any]:
    """Latencies of the first revision of every delivered alert, from the workspace's provenance."""
    con = duckdb.connect(str(ws), read_only=True)
    rows = con.execute("SELECT id, source_file, source_offset FROM events").fetchall()
    stored = len(rows)
    wrote: dict[str, float] = {}
    for eid, f, off in rows:
        t = landed.get((f, off), landed.get(f))
        if t is not None:
            wrote[eid] = t
    alerts = con.execute("SELECT count(*) FROM alerts").fetchone()
    con.close()
    lower: list[float] = []
    upper: list[float] = []
    by_rule: dict[str, list[float]] = {}
    for (_, rev), (at, body) in hook.got.items():
        if rev != 1:
            continue
        times = [wrote[e] for e in body["evidence"] if e in wrote]
        if not times:
            continue
        lower.append(at - max(times))
        upper.append(at - min(times))
        by_rule.setdefault(body["rule"], []).append(at - max(times))
    return {
        "events_stored": stored,
        "alerts_in_workspace": alerts[0] if alerts else 0,
        "alerts_delivered": sum(1 for _, r in hook.got if r == 1),
        "revisions_delivered": len(hook.got),
        "requests": hook.requests,
        "latency_s": {
            "last_evidence": {
                "p50": round(_pct(lower, 0.5), 1),
                "p95": round(_pct(lower, 0.95), 1),
                "max": round(max(lower, default=float("nan")), 1),
                "n": len(lower),
            },
            "first_evidence": {
                "p50": round(_pct(upper, 0.5), 1),
                "p95": round(_pct(upper, 0.95), 1),
                "max": round(max(upper, default=float("nan")), 1),
                "n": len(upper),
            },
        },
        "p95_by_rule_s": {r: round(_pct(v, 0.95), 1) for r, v in sorted(by_rule.items())},
    }


def section(r: dict[str, Any]) -> str:
    lat, m = r["latency_s"], r["machine"]
    last, first = lat["last_evidence"], lat["first_evidence"]
    rows = [
        ("records written / events stored", f"{r['events_written']:,} / {r['events_stored']:,}"),
        (
            "alerts in the workspace / delivered (first revisions) / revisions delivered",
            f"{r['alerts_in_workspace']} / {r['alerts_delivered']} / {r['revisions_delivered']}",
        ),
        (
            "latency from the last-written evidence event, p50 / p95 / max",
            f"{last['p50']} / {last['p95']} / {last['max']} s",
        ),
        (
            "latency from the first-written evidence event, p50 / p95 / max",
            f"{first['p50']} / {first['p95']} / {first['max']} s",
        ),
    ]
    by_rule = ", ".join(f"`{k}` {v}" for k, v in r["p95_by_rule_s"].items())
    table = "\n".join(f"| {a} | {b} |" for a, b in rows)
    return (
        f"## watch\n\n`python bench/watch.py --speed {r['speed']:g} --days {r['days']}` ({r['when']}): the "
        f"simulated world (seed {r['seed']}, scale {r['scale']:g}, {r['days']} days) replayed into a "
        f"watched folder at real time x {r['speed']:g} ({r['replay_seconds']:g} s of writing: JSONL lines "
        "appended at their moments, gzip objects copied whole at their last record's), `ringbreaker watch` "
        f"at `--poll {r['poll']:g} --interval {r['interval']:g}` posting to a webhook on 127.0.0.1. Machine: "
        f"{m['cpu_model']}, {m['nproc']} cores, shared with other work; 1-minute load average "
        f"{r['loadavg_before'][0]} before and {r['loadavg_after'][0]} after the replay.\n\n"
        f"| measure | value |\n|---|---|\n{table}\n\n"
        "Latency is wall time from the moment an event landed in the folder to its alert's arrival at the "
        "webhook (each alert's first revision); it excludes the shipper's own delay (CloudTrail reaches S3 "
        "about 5 minutes after the call). The last-written evidence event is the one that completed the "
        "alert (a lower bound when more evidence landed before the detect run); the first-written one "
        f"bounds it from above. p95 by rule (last-written evidence): {by_rule}.\n"
    )


if __name__ == "__main__":
    main()
