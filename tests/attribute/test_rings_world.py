"""The harder-ring worlds of bench/attribute_rings.py: deterministic per seed, read by ingest with
nothing quarantined, and a truth file that agrees with the logs and the leaks.

Why: attribute v2 is scored on these worlds, so a truth address that never occurs in a log, a
stolen key scan cannot find, or a world that differs between runs would make its scores
meaningless. A small scale keeps the test quick; the plans are the bench's own.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import rb

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import attribute_rings  # noqa: E402
from attribute_rings_world import COMMON_UA  # noqa: E402

SCALE = 0.08
ROLES = {"checker", "control-plane", "egress", "proxy-pool"}


def _digest(root: Path) -> dict[str, str]:
    """SHA-256 of every log and truth file, and the HEAD commit of every leak repository (asn.mmdb
    records its build time; its networks are in truth.json)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "public-code" not in p.parts and p.name != "asn.mmdb":
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    for head in sorted((root / "public-code").glob("*/.git/refs/heads/main")):
        out[head.relative_to(root).as_posix()] = head.read_text().strip()
    return out


@pytest.fixture(scope="module")
def rings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Path]:
    """(world, truth, workspace) of dev seed 2 at a small scale, ingested through the CLI."""
    root = tmp_path_factory.mktemp("rings")
    truth = attribute_rings.world(root / "w", 2, SCALE)
    ws = root / "ws.duckdb"
    logs = [str(root / "w" / d) for d in ("aws", "azure", "gateway", "openai")]
    p = rb(
        "ingest",
        *logs,
        "--workspace",
        str(ws),
        "--geoip",
        str(root / "w" / "asn.mmdb"),
        "--format",
        "json",
        "-q",
    )
    assert p.returncode == 0, p.stderr[-2000:]
    files = json.loads(p.stdout)["files"]
    assert files
    assert sum(f["quarantined"] for f in files) == 0
    assert {f["status"] for f in files} == {"ingested"}
    return root / "w", truth, ws


def test_same_seed_same_world(rings: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    world, truth, _ = rings
    again = attribute_rings.world(tmp_path / "w", 2, SCALE)
    assert again == truth
    assert _digest(tmp_path / "w") == _digest(world)


def test_held_out_plans_differ_in_structure() -> None:
    """Held-out seeds are not dev seeds with other numbers: crew counts and shapes change."""

    def shape(seed: int) -> tuple[int, int, int, int]:
        specs = attribute_rings.plan(seed)[0]
        return (
            len(specs),
            sum(s.egress == "rotating" for s in specs),
            sum(s.keys == 1 for s in specs),
            sum(s.egress == "pool" for s in specs),
        )

    dev = {shape(s) for s in attribute_rings.DEV_SEEDS}
    assert len(dev) == 1
    held = [shape(s) for s in attribute_rings.HELD_OUT]
    assert all(h not in dev for h in held)
    assert len(set(held)) == len(held)
    assert attribute_rings.plan(1)[0][0].keys != attribute_rings.plan(2)[0][0].keys or (
        attribute_rings.plan(1)[0][1].pool != attribute_rings.plan(2)[0][1].pool
    )


def test_truth_agrees_with_the_logs(rings: tuple[Path, dict[str, Any], Path]) -> None:
    _, truth, ws = rings
    con = duckdb.connect(str(ws), read_only=True)
    try:
        ips = {
            r[0]
            for r in con.execute("SELECT DISTINCT src_ip FROM events WHERE src_ip IS NOT NULL").fetchall()
        }
        fps = {r[0] for r in con.execute("SELECT DISTINCT key_fingerprint FROM events").fetchall()}
        resources = {r[0] for r in con.execute("SELECT DISTINCT upper(resource) FROM events").fetchall()}
        key_ids = {r[0] for r in con.execute("SELECT DISTINCT key_id FROM events").fetchall()}
        uas = {r[0] for r in con.execute("SELECT DISTINCT user_agent FROM events").fetchall()}
    finally:
        con.close()
    names = [c["name"] for c in truth["crews"]]
    assert {"rotor", "resi", "vpn-a", "vpn-b", "solo"} <= set(names)
    for c in truth["crews"]:
        assert c["keys"], c["name"]
        for a in c["addresses"]:
            assert a["role"] in ROLES
            exact = set(a["formats"]) - {"azure-diagnostics"}
            seen = a["ip"] in ips if exact else a["ip"].rsplit(".", 1)[0] + ".***" in ips
            assert seen, (c["name"], a)
        for k in c["keys"]:
            if k["provider"] == "azure":
                assert k["key_id"].upper() in resources
            elif k["provider"] == "openai":
                assert k["key_id"] in key_ids
            else:
                assert k["fingerprint"] in fps
        assert {u["value"] for u in c["user_agents"]} <= uas
    pool = [
        a for c in truth["crews"] if c["name"] == "resi" for a in c["addresses"] if a["role"] == "proxy-pool"
    ]
    assert len(pool) >= 50
    assert max(a["events"] for a in pool) <= 5
    rotor = next(c for c in truth["crews"] if c["name"] == "rotor")
    egress = [a for a in rotor["addresses"] if a["role"] == "egress" and not a["shared"]]
    assert len({a["ip"].rsplit(".", 1)[0] for a in egress}) >= 3  # rotation across /24s
    for s in truth["shared"]:
        used = [c["name"] for c in truth["crews"] if any(a["ip"] == s["ip"] for a in c["addresses"])]
        assert sorted(used) == s["crews"]
    shared_vpn = [
        s for s in truth["shared"] if s["kind"] == "vpn-exit" and {"vpn-a", "vpn-b"} <= set(s["crews"])
    ]
    assert shared_vpn
    legit = {k["fingerprint"] for k in truth["legit"]["keys"]}
    assert legit.isdisjoint({k["fingerprint"] for c in truth["crews"] for k in c["keys"]})
    common = COMMON_UA
    assert common in truth["legit"]["user_agents"]
    assert sum(common in {u["value"] for u in c["user_agents"]} for c in truth["crews"]) >= 2


def test_scan_finds_every_leak_at_its_time(rings: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    world, truth, _ = rings
    p = rb("scan", "--history", str(world / "public-code"), "--format", "jsonl", "-q", "--show-secrets")
    assert p.returncode == 1, p.stderr[-2000:]
    found, secrets = {}, set()
    for line in p.stdout.splitlines():
        f = json.loads(line)
        found[f["fingerprint"]] = f["time"]
        secrets.add(f["secret"])
    leaked = [k for c in truth["crews"] for k in c["keys"] if k["leak_repo"]]
    assert len(leaked) >= 8
    for k in leaked:
        assert k["fingerprint"] in found, k
        assert found[k["fingerprint"]].replace("+00:00", "Z") == k["leak_time"]
    text = (world / "truth.json").read_text()
    assert not [s for s in secrets if s in text and not s.startswith("AKIA")]  # key ids only, no secrets
