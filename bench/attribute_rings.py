"""Benchmark ``ringbreaker attribute`` on harder rings it did not generate (issue 17, "Measure").

Each seed is a five-day world written by bench/attribute_rings_gen.py: 25+ legitimate organisations
(AWS accounts, Azure OpenAI resources, LiteLLM gateway teams, an OpenAI organisation) with their own
keys, office / CI / cloud / home addresses, SDK clients and daily rhythm (some on VPS clouds, some
sending the popular client string crews send too, one with staff behind the commercial VPN crews
use), and crews built after the public LLMjacking write-ups (bench/attribute_rings_crews.py): a
key checker host, a control-plane host, and egress that is fixed, rotating or a residential pool.
Stolen keys leak in public git repositories (fake keys made at run time), so ``scan --history``
finds them with their leak times. The victims keep using their own keys.

Then, per seed, as a user runs it: ``scan --history``, ``ingest --geoip`` (0 quarantined is
checked), ``classify`` if any event has a prompt, ``detect``, ``attribute --format json`` (timed),
and the workspace is scored against truth.json by bench/attribute_rings_score.py.

Plans (chosen before the rewrite; the rewrite's author looks only at the dev seeds):

- **dev seeds 1, 2, 3**: ``rotor`` (egress rotates every 24 h across 3 hosting ASNs, 2 hosts a day,
  a probe-only host or two, 4-6 AWS keys of 3 victims and an Azure key, the common client string),
  ``resi`` (a residential pool of 1,200-2,000 addresses, 3-4 keys of 2 victims plus a stolen gateway
  key), ``vpn-a`` and ``vpn-b`` (fixed hosts, 25-35% of calls through the same VPN exits; vpn-a
  changes tools on day 3, vpn-b sends the common client string), ``solo`` (one key of one victim,
  own checker, client and egress); the OpenAI admin-key actor on seeds 1 and 3; one victim robbed
  by two crews (different keys).
- **held-out 11**: two rotating crews (every 12 h over 5 ASNs with 3 hosts, tool change on day 2.5,
  the common client string; every 36 h over 2 ASNs with one host, 50% through the VPN), a pool of
  4,000 (10% VPN), a fixed crew at 50% VPN, two single-key actors (one sends the common string);
  no admin key; no victim shared between crews.
- **held-out 12**: one crew rotating every 8 h over 6 ASNs with 6 keys of 4 victims and an Azure
  key, two residential-pool crews (2,500 each; one with the common string and a tool change on day
  2), a VPN pair at 60%, one single-key actor, the admin key; two victims robbed by two crews.
- **held-out 13**: seven crews: rotating every 24 h with 4 hosts a day, a pool of 800 at 20% VPN,
  three fixed crews sharing VPN exits at 40%, two single-key actors (one changes tools on day 2),
  the admin key; one victim robbed by two crews.

Usage::

    .venv/bin/python bench/attribute_rings.py                 # all six seeds
    .venv/bin/python bench/attribute_rings.py --seeds 1 2 3   # dev seeds only
    .venv/bin/python bench/attribute_rings.py --seeds 1 --keep /tmp/rings   # keep worlds, workspaces

Writes bench/out/attribute_rings.json and prints a table. Does not touch docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attribute_rings_crews import CrewSpec
from attribute_rings_gen import generate
from attribute_rings_score import render, score
from harness import OUT, machine, measure

DEV_SEEDS = (1, 2, 3)
HELD_OUT = (11, 12, 13)


def plan(seed: int) -> tuple[list[CrewSpec], bool, int]:
    """The crews of ``seed``, whether the OpenAI admin-key actor plays, and how many crews rob a
    victim an earlier crew robbed too (module docstring)."""
    r = random.Random(f"plan-{seed}")
    if seed == 11:
        return (
            [
                CrewSpec(
                    "rotor-fast",
                    "rotating",
                    keys=5,
                    victims=3,
                    rotation_h=12,
                    per_period=3,
                    asns=5,
                    probe_only=2,
                    ua="common",
                    tool_change_day=2.5,
                    rate=40,
                ),
                CrewSpec(
                    "rotor-slow",
                    "rotating",
                    keys=4,
                    victims=2,
                    rotation_h=36,
                    per_period=1,
                    asns=2,
                    probe_only=1,
                    vpn_share=0.5,
                    rate=30,
                    start_day=0.6,
                ),
                CrewSpec("resi", "pool", keys=5, victims=3, pool=4000, vpn_share=0.1, check_min=360),
                CrewSpec("vpn-c", "fixed", keys=2, victims=2, hosts=2, vpn_share=0.5, check_min=180, rate=25),
                CrewSpec(
                    "solo-1",
                    "fixed",
                    keys=1,
                    victims=1,
                    hosts=1,
                    ua="common",
                    control_plane=False,
                    rate=18,
                    check_min=360,
                    start_day=1.0,
                ),
                CrewSpec(
                    "solo-2",
                    "fixed",
                    keys=1,
                    victims=1,
                    hosts=1,
                    control_plane=False,
                    rate=12,
                    check_min=240,
                    start_day=2.0,
                ),
            ],
            False,
            0,
        )
    if seed == 12:
        return (
            [
                CrewSpec(
                    "rotor",
                    "rotating",
                    keys=6,
                    victims=4,
                    azure_keys=1,
                    rotation_h=8,
                    per_period=2,
                    asns=6,
                    probe_only=2,
                    rate=45,
                ),
                CrewSpec("resi-1", "pool", keys=3, victims=2, pool=2500, gateway_key=True, check_min=360),
                CrewSpec(
                    "resi-2",
                    "pool",
                    keys=3,
                    victims=2,
                    pool=2500,
                    ua="common",
                    tool_change_day=2,
                    check_min=360,
                    start_day=0.8,
                ),
                CrewSpec("vpn-a", "fixed", keys=3, victims=2, hosts=2, vpn_share=0.6, check_min=90, rate=30),
                CrewSpec("vpn-b", "fixed", keys=2, victims=2, hosts=1, vpn_share=0.6, check_min=180, rate=20),
                CrewSpec(
                    "solo", "fixed", keys=1, victims=1, hosts=1, control_plane=False, rate=15, check_min=360
                ),
            ],
            True,
            2,
        )
    if seed == 13:
        return (
            [
                CrewSpec(
                    "rotor", "rotating", keys=4, victims=3, rotation_h=24, per_period=4, asns=3, rate=35
                ),
                CrewSpec("resi", "pool", keys=3, victims=2, pool=800, vpn_share=0.2, check_min=360),
                CrewSpec("vpn-a", "fixed", keys=2, victims=2, hosts=2, vpn_share=0.4, rate=20),
                CrewSpec("vpn-b", "fixed", keys=2, victims=2, hosts=1, vpn_share=0.4, rate=20, start_day=1.2),
                CrewSpec(
                    "vpn-c", "fixed", keys=3, victims=3, hosts=2, vpn_share=0.4, rate=25, tool_change_day=3
                ),
                CrewSpec("solo-1", "fixed", keys=1, victims=1, hosts=1, control_plane=False, rate=15),
                CrewSpec(
                    "solo-2",
                    "fixed",
                    keys=1,
                    victims=1,
                    hosts=1,
                    control_plane=False,
                    rate=10,
                    tool_change_day=2,
                    start_day=0.5,
                ),
            ],
            True,
            1,
        )
    vpn = r.uniform(0.25, 0.35)
    return (
        [
            CrewSpec(
                "rotor",
                "rotating",
                keys=r.randint(4, 6),
                victims=3,
                azure_keys=1,
                rotation_h=24,
                per_period=2,
                asns=3,
                probe_only=r.randint(1, 2),
                ua="common",
                rate=r.uniform(35, 50),
            ),
            CrewSpec(
                "resi",
                "pool",
                keys=r.randint(3, 4),
                victims=2,
                pool=r.randint(1200, 2000),
                gateway_key=True,
                check_min=360,
                start_day=r.uniform(0.2, 0.8),
            ),
            CrewSpec(
                "vpn-a",
                "fixed",
                keys=3,
                victims=2,
                hosts=2,
                vpn_share=vpn,
                tool_change_day=3,
                check_min=180,
                rate=r.uniform(20, 30),
            ),
            CrewSpec(
                "vpn-b",
                "fixed",
                keys=r.randint(2, 3),
                victims=2,
                hosts=2,
                vpn_share=vpn,
                ua="common",
                check_min=180,
                rate=r.uniform(15, 25),
                start_day=r.uniform(0.3, 1.0),
            ),
            CrewSpec(
                "solo",
                "fixed",
                keys=1,
                victims=1,
                hosts=1,
                control_plane=False,
                rate=r.uniform(12, 20),
                check_min=360,
                start_day=r.uniform(0.5, 1.5),
            ),
        ],
        seed in (1, 3),
        1,
    )


def world(out: Path, seed: int, scale: float = 1.0) -> dict[str, Any]:
    """Generate the world of ``seed`` (its plan) under ``out``; returns its truth."""
    specs, admin, shared_victims = plan(seed)
    return generate(out, seed, specs, admin=admin, shared_victims=shared_victims, scale=scale)


def rb(*args: str) -> list[str]:
    return [sys.executable, "-m", "ringbreaker", *args]


def sh(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RINGBREAKER_WORKSPACE"}
    return subprocess.run(argv, capture_output=True, text=True, check=False, env=env)


def pipeline(w: Path, ws: Path, work: Path) -> dict[str, Any]:
    """scan, ingest, classify (if prompts), detect, attribute through the CLI; times and checks."""
    times: dict[str, float] = {}

    def step(name: str, argv: list[str], ok: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[str]:
        t = time.perf_counter()
        p = sh(argv)
        times[name] = round(time.perf_counter() - t, 2)
        if p.returncode not in ok:
            raise SystemExit(f"{name} failed ({p.returncode}): {p.stderr[-2000:]}")
        return p

    # The OpenAI organisation's owner gives their key inventory by id (scan --inventory): the audit
    # log names an admin key only by its id. Fingerprints and ids only, no secret.
    truth = json.loads((w / "truth.json").read_text())
    openai_keys = [k for c in truth["crews"] for k in c["keys"]] + truth["legit"]["keys"]
    inventory = work / "openai-keys.txt"
    inventory.write_text(
        "".join(
            f"{k['fingerprint']} openai-key-id={k['key_id']}\n"
            for k in openai_keys
            if k.get("provider") == "openai" and str(k.get("key_id", "")).startswith("key_")
        )
    )
    step(
        "scan",
        rb(
            "scan",
            "--history",
            str(w / "public-code"),
            "--workspace",
            str(ws),
            "--inventory",
            str(inventory),
            "-q",
        ),
    )
    logs = [str(w / d) for d in ("aws", "azure", "gateway", "openai") if (w / d).exists()]
    ing = step(
        "ingest",
        rb("ingest", *logs, "--workspace", str(ws), "--geoip", str(w / "asn.mmdb"), "--format", "json", "-q"),
        ok=(0,),
    )
    doc = json.loads(ing.stdout)
    quarantined = sum(f.get("quarantined", 0) for f in doc["files"])
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        prompts = con.execute("SELECT count(*) FROM events WHERE prompt IS NOT NULL").fetchone()
        events = con.execute("SELECT count(*) FROM events").fetchone()
    finally:
        con.close()
    if prompts and prompts[0]:
        step("classify", rb("classify", "--workspace", str(ws), "-q"))
    step("detect", rb("detect", "--workspace", str(ws), "--format", "jsonl", "-q"))
    m = measure(
        rb("attribute", "--workspace", str(ws), "--format", "json"),
        work,
        work / "attribute.json",
        work / "attribute.err",
        timeout=1200,
    )
    if m.returncode:
        raise SystemExit(f"attribute failed ({m.returncode}): {(work / 'attribute.err').read_text()[-2000:]}")
    times["attribute"] = round(m.wall_s, 2)
    return {
        "seconds": times,
        "attribute_peak_rss_mb": round(m.peak_rss_bytes / 1e6),
        "events": events[0] if events else 0,
        "files": len(doc["files"]),
        "quarantined": quarantined,
    }


def run_seed(seed: int, root: Path, scale: float) -> dict[str, Any]:
    w, ws = root / f"world-{seed}", root / f"ws-{seed}.duckdb"
    work = root / f"work-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    truth = world(w, seed, scale)
    gen_s = round(time.perf_counter() - t, 2)
    run = pipeline(w, ws, work)
    run["seconds"]["generate"] = gen_s
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        res = score(con, truth)
    finally:
        con.close()
    return {"seed": seed, "held_out": seed in HELD_OUT, **run, **res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[*DEV_SEEDS, *HELD_OUT])
    ap.add_argument("--scale", type=float, default=1.0, help="traffic and pool sizes (1: the plans)")
    ap.add_argument("--keep", type=Path, help="keep worlds and workspaces under this directory")
    ap.add_argument("-o", "--output", type=Path, default=OUT / "attribute_rings.json")
    args = ap.parse_args()
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "scale": args.scale}
    with tempfile.TemporaryDirectory(prefix="rb-rings-") as tmp:
        root = args.keep or Path(tmp)
        res["seeds"] = []
        for seed in args.seeds:
            r = run_seed(seed, root, args.scale)
            print(
                f"seed {seed}: {json.dumps({k: r[k] for k in ('events', 'seconds', 'ari')})}", file=sys.stderr
            )
            res["seeds"].append(r)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=1))
    print(render(res["seeds"]))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
