"""Benchmark ``ringbreaker attribute``: crew quality on simulated worlds, speed on a big workspace.

1. Quality, per seed: simulate → scan --history → ingest → classify → detect → attribute, each
   through the CLI as a user runs it, then the attribution is scored against the world's
   truth.json (crew ARI, role accuracy, strays, every compromised key in exactly one case).
2. Speed: a workspace of ``--events`` events (default 10M) written directly in SQL: ``--crews``
   rings of 50 proxy addresses each pooling 300 victims' keys (each address uses 20 of them), the
   rest customers' own traffic, and one critical alert per ring address. That gives > 1M
   address--key edges. ``attribute`` runs on it in a fresh process: wall time, peak RSS, and the
   ARI of the crews it finds against the planted ones.

Results go to ``bench/out/attribute.json`` and the ``## attribute`` section of docs/benchmarks.md.

Usage::

    .venv/bin/python bench/attribute.py                  # 4 worlds (seeds 1-4), 10M-event speed run
    .venv/bin/python bench/attribute.py --quick          # seed 1 and 1M events: smoke test
    .venv/bin/python bench/attribute.py --skip-quality   # speed only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import OUT, VENV_BIN, machine, measure, update_docs

RB = str(VENV_BIN / "ringbreaker")
PY = sys.executable

BUILD = """
import sys
from ringbreaker.workspace import open_workspace
events, crews = int(sys.argv[2]), int(sys.argv[3])
ring = events * 2 // 5
con = open_workspace(sys.argv[1])
con.execute("SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
# Ring traffic: crew c, address i (of 50) uses 20 keys (hashed picks, one victim each) of the
# crew's 300, spread over the pool as a rotating proxy does; no key is shared between crews.
con.execute(f'''
INSERT INTO events (id, time, provider, operation, status, account, key_fingerprint, src_ip,
                    user_agent, end_user, tokens_in, tokens_out, source_format, source_file)
SELECT 'r' || n, TIMESTAMPTZ '2025-03-01 00:00:00+00' + to_seconds(n % 604800),
       'aws', 'InvokeModel', 'success', 'victim-' || c || '-' || k, sha256('key-' || c || '-' || k),
       '10.' || (c // 250) || '.' || (c % 250) || '.' || i, 'tool-' || c || '/1.0',
       CASE WHEN n % 3 = 0 THEN 'eu-' || c || '-' || (n % 40) END, 500, 200, 'cloudtrail', 'synthetic'
FROM (SELECT n, c, i, hash(i * 1000 + (n // {crews * 50}) % 20) % 300 AS k
      FROM (SELECT n, n % {crews} AS c, (n // {crews}) % 50 AS i FROM range({ring}) t(n)))
''')
# Customers: 200k addresses, two per key, twenty per organisation, common SDK user agents.
con.execute(f'''
INSERT INTO events (id, time, provider, operation, status, account, key_fingerprint, src_ip,
                    user_agent, tokens_in, tokens_out, source_format, source_file)
SELECT 'l' || n, TIMESTAMPTZ '2025-03-01 00:00:00+00' + to_seconds(n % 604800),
       'aws', 'InvokeModel', 'success', 'org-' || (a // 20), sha256('own-' || (a // 2)),
       '172.' || (16 + a // 65536) || '.' || ((a // 256) % 256) || '.' || (a % 256),
       'Boto3/1.34.' || (a % 7), 400, 150, 'cloudtrail', 'synthetic'
FROM (SELECT n, n % 200000 AS a FROM range({events - ring}) t(n))
''')
con.execute(f'''
INSERT INTO alerts
SELECT 'a-' || ip, 'det.leaked-key.use', 'critical', 't', 's', TIMESTAMPTZ '2025-03-01 00:00:00+00',
       TIMESTAMPTZ '2025-03-01 00:00:00+00', 1, [], [], [ip], [], [], [], [], [], NULL, now(), now()
FROM (SELECT DISTINCT src_ip AS ip FROM events WHERE src_ip LIKE '10.%')
''')
con.execute("CHECKPOINT")
print(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
"""

SCORE = """
import sys, json
import duckdb
from ringbreaker.attribute.evaluate import adjusted_rand
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET enable_progress_bar = false")
rows = con.execute("SELECT entity, crew_id FROM crew_members WHERE kind = 'ip'").fetchall()
truth = [ip.split('.')[1] + '.' + ip.split('.')[2] for ip, _ in rows]
pred = [c for _, c in rows]
edges = con.execute("SELECT count(*) FROM (SELECT DISTINCT src_ip, key_fingerprint FROM events "
                    "WHERE src_ip LIKE '10.%')").fetchall()[0][0]
print(json.dumps({"crews": con.execute("SELECT count(*) FROM crews").fetchall()[0][0],
                  "ip_members": len(rows), "ari": round(adjusted_rand(truth, pred), 4), "edges": edges}))
"""


def sh(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


def quality(seed: int, scale: float, work: Path) -> dict[str, Any]:
    """The whole pipeline through the CLI on one seed, scored against truth.json."""
    w, ws = work / f"world-{seed}", work / f"ws-{seed}.duckdb"
    steps: list[tuple[str, list[str]]] = [
        ("simulate", [RB, "simulate", str(w), "--seed", str(seed), "--scale", str(scale)]),
        ("scan", [RB, "scan", "--history", str(w / "public-code"), "--workspace", str(ws), "--quiet"]),
        ("ingest", [RB, "ingest", str(w), "--workspace", str(ws)]),
        ("classify", [RB, "classify", "--workspace", str(ws)]),
        ("detect", [RB, "detect", "--workspace", str(ws), "--format", "jsonl"]),
        ("attribute", [RB, "attribute", "--workspace", str(ws), "--code", str(w / "public-code")]),
    ]
    times: dict[str, float] = {}
    for name, argv in steps:
        t0 = time.perf_counter()
        proc = sh(argv)
        times[name] = round(time.perf_counter() - t0, 2)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    import duckdb

    from ringbreaker.attribute.evaluate import evaluate

    con = duckdb.connect(str(ws), read_only=True)
    try:
        q = evaluate(con, json.loads((w / "truth.json").read_text()))
    finally:
        con.close()
    return {"seed": seed, "scale": scale, **q, "seconds": times}


def speed(events: int, crews: int, work: Path) -> dict[str, Any]:
    ws = work / "big.duckdb"
    t0 = time.perf_counter()
    built = sh([PY, "-c", BUILD, str(ws), str(events), str(crews)])
    if built.returncode:
        raise SystemExit(built.stderr[-2000:])
    build_s = time.perf_counter() - t0
    m = measure(  # table output: a JSON document of 600k keys would measure json.dumps, not attribute
        [RB, "attribute", "--workspace", str(ws)],
        work,
        work / "attr.out",
        work / "attr.err",
        timeout=1800,
    )
    if m.returncode:
        raise SystemExit((work / "attr.err").read_text()[-2000:])
    line = (work / "attr.err").read_text()
    found = re.search(
        r"from (\d+) seed address\(es\), ([\d,]+) abuse event\(s\), "
        r"graph of (\d+) node\(s\) and (\d+) edge",
        line,
    )
    if not found:
        raise SystemExit(f"no summary line in attribute's stderr: {line[-500:]}")
    doc = {
        "abuse_events": int(found.group(2).replace(",", "")),
        "nodes": int(found.group(3)),
        "edges": int(found.group(4)),
    }
    score = json.loads(sh([PY, "-c", SCORE, str(ws)]).stdout)
    return {
        "events": int(built.stdout.split()[-1]),
        "crews_planted": crews,
        "build_seconds": round(build_s, 1),
        "seconds": round(m.wall_s, 2),
        "cpu_seconds": round(m.cpu_s, 2),
        "peak_rss_mb": round(m.peak_rss_bytes / 1e6),
        "graph_nodes": doc["nodes"],
        "graph_edges": doc["edges"],
        "abuse_events": doc["abuse_events"],
        **{f"found_{k}": v for k, v in score.items()},
    }


def render(res: dict[str, Any]) -> str:
    lines = [
        "## attribute",
        "",
        f"Measured {res['date']} on {res['machine']['cpu_model']} ({res['machine']['nproc']} cores), "
        f"load average {res['load']}. Reproduce with `make bench` (`bench/attribute.py`).",
        "",
    ]
    if res.get("quality"):
        lines += [
            "### Quality on simulated worlds (the whole pipeline through the CLI, scored against truth.json)",
            "",
            "| seed | scale | crews (truth / found) | crew ARI | ring members found | extra members "
            "| role accuracy "
            "| strays (legitimate or victim) | compromised keys in exactly one case |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for q in res["quality"]:
            lines.append(
                f"| {q['seed']} | {q['scale']:g} | {q['crews_truth']} / {q['crews_found']} | {q['ari']:.3f} "
                f"| {q['members_found']} / {q['members_planted']} | {q['members_extra']} "
                f"| {100 * q['role_accuracy']:.1f}% | {len(q['strays'])} "
                f"| {q['keys_in_exactly_one_case']} / {q['keys_compromised']} |"
            )
        lines += [
            "",
            "Targets: ARI ≥ 0.9, role accuracy ≥ 90%, no legitimate organisation or victim in a crew, "
            "every compromised key in exactly one case.",
            "",
            "Ring members not found are end users that truth.json plants but that never appear in a log "
            "that records end users (a crew whose stolen keys are all AWS or Azure: their logs have no "
            "end-user field); ARI is computed over the members both sides can see. "
            "The compromised key in no case is, in every world, the leaked OpenAI admin key: its abuse shows "
            "only in the OpenAI audit log, which names the key's id (`key_…`), never the secret, so nothing "
            "joins it to the leak's fingerprint, and the log records no address to follow. "
            "`det.openai.admin-key-creates-credentials` reports it by principal; a case would need the "
            "owner's key-id inventory. Every other stolen key (AWS, Azure through `findings.resource`, "
            "the gateway keys stolen without a leak) is in exactly one crew's case.",
            "",
        ]
    if res.get("speed"):
        s = res["speed"]
        lines += [
            "### Speed",
            "",
            "| events | abuse events | graph nodes | graph edges | crews planted / found | crew ARI "
            "| wall s | CPU s | peak RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {s['events']:,} | {s['abuse_events']:,} | {s['graph_nodes']:,} | {s['graph_edges']:,} "
            f"| {s['crews_planted']:,} / {s['found_crews']:,} | {s['found_ari']:.3f} | {s['seconds']} "
            f"| {s['cpu_seconds']} | {s['peak_rss_mb']:,} MB |",
            "",
            "Target: ≤ 30 s and ≤ 2 GB RSS on 10M events with ≥ 1M graph edges. The workspace is written "
            "in SQL (not simulated) so that the graph is big: see the docstring of `bench/attribute.py`. "
            "Edges are the address--key uses plus the address--address links the clustering runs on. "
            + (
                "Both targets are met. "
                if s["seconds"] <= 30 and s["peak_rss_mb"] <= 2000
                else "The run misses the target. "
            )
            + "What it took: the abuse events stay a view over the workspace (materialising 4M rows once "
            "took 20 s but 3.2 GB), every member kind is one grouped query and the big tables are written "
            "by SQL, the address-pair self-join runs on integer ids, and DuckDB is capped at 1700MB "
            "(`--memory-limit`; 1500MB spills and takes 45 s).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--worlds",
        nargs="+",
        default=["1:2", "2:2", "3:2", "4:6"],
        help="SEED:SCALE per quality world (scale 6 and up plants three crews)",
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--crews", type=int, default=2000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.worlds, args.events, args.crews = ["1:1"], 1_000_000, 200
    res: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    with tempfile.TemporaryDirectory(prefix="rb-attr-") as tmp:
        work = Path(tmp)
        if not args.skip_quality:
            res["quality"] = [
                quality(int(w.split(":")[0]), float(w.split(":")[1]), work) for w in args.worlds
            ]
            for q in res["quality"]:
                print(json.dumps(q), file=sys.stderr)
        if not args.skip_speed:
            res["speed"] = speed(args.events, args.crews, work)
            print(json.dumps(res["speed"]), file=sys.stderr)
    res["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    previous = OUT / "attribute.json"
    if previous.exists():  # a --skip-* run keeps the other half of the last results
        old = json.loads(previous.read_text())
        for part in ("quality", "speed"):
            if part not in res and part in old:
                res[part] = old[part]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "attribute.json").write_text(json.dumps(res, indent=2))
    if not args.quick:
        update_docs(render(res))
    print(render(res))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
