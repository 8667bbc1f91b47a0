"""Scenario benchmark of ``ringbreaker detect``: hand-built CloudTrail recordings of real account behaviour.

Independent of the rules: every scenario was written from how AWS accounts behave and from the shapes
of real CloudTrail records (the Stratus Red Team detonation logs, AWS's Bedrock CloudTrail
documentation), never from the built-in rules' SQL. Each scenario is a small AWS account history in
S3 delivery shape (``AWSLogs/ACCOUNT/CloudTrail/REGION/Y/M/D/*.json.gz`` files holding
``{"Records": [...]}``), with fake keys (``AKIA``/``ASIA`` + 16 invented characters) and addresses
from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24). An ASN database
written here (``mmdb_writer``) maps those ranges as a GeoLite2-ASN database maps real ones: the office
and a hotel to consumer ISPs, the attackers to DigitalOcean, Hetzner and M247, CI runners to
Microsoft (GitHub-hosted runners) and the owner's NAT gateways and a CSPM vendor to Amazon.

Each scenario runs twice through the real CLI, as a user would::

    python -m ringbreaker ingest DIR --workspace W -q --geoip asn.mmdb
    python -m ringbreaker detect --workspace W --format jsonl -q [--context owner.yaml]

once without and once with the context file a real owner would keep (their office, NAT and CI
networks, IaC/admin/service/CI principals, their accounts, the models their services call).

Judgement: a legitimate scenario passes with no alert at medium or above; an attack passes when at
least one alert at medium or above names one of the scenario's target keys (by fingerprint) or
principals (user ARN, assumed-role session ARN or role ARN).

Results: a markdown table on stdout, ``bench/out/detect_scenarios.json`` and (unless ``--no-docs``)
the ``## detect scenarios`` section of docs/benchmarks.md.

Usage::

    .venv/bin/python bench/detect_scenarios.py
    .venv/bin/python bench/detect_scenarios.py --no-docs --keep /tmp/scenarios   # keep the files
    .venv/bin/python bench/detect_scenarios.py --stratus /work/.mirror/DataDog+stratus-red-team/repo
    .venv/bin/python bench/detect_scenarios.py --only A1,L5
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_scenarios_attacks import ATTACKS
from detect_scenarios_legit import LEGITIMATE
from detect_scenarios_world import (
    ASN_MAP,
    MEDIUM,
    PY,
    SEVERITY,
    Gen,
    Scenario,
)
from harness import OUT, machine, update_docs

SCENARIOS: list[Callable[[], Scenario]] = [*LEGITIMATE, *ATTACKS]

# ---------------------------------------------------------------------------------------------
# Writing, running, judging.
# ---------------------------------------------------------------------------------------------


def write_trail(records: list[dict[str, Any]], folder: Path, g: Gen) -> int:
    """S3 delivery layout: one gzip file per account, region and day, events in time order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["recipientAccountId"], r["awsRegion"], r["eventTime"][:10]), []).append(r)
    for (acct, region, date), recs in sorted(groups.items()):
        y, m, d = date.split("-")
        sub = folder / "AWSLogs" / acct / "CloudTrail" / region / y / m / d
        sub.mkdir(parents=True, exist_ok=True)
        recs.sort(key=lambda r: r["eventTime"])
        stamp = recs[-1]["eventTime"][11:16].replace(":", "")
        name = f"{acct}_CloudTrail_{region}_{y}{m}{d}T{stamp}Z_{g.chars(16)}.json.gz"
        with gzip.open(sub / name, "wt", encoding="utf-8") as fh:
            json.dump({"Records": recs}, fh)
    return len(groups)


def write_mmdb(path: Path) -> bool:
    try:
        import mmdb_writer
        from netaddr import IPSet
    except ImportError:
        return False
    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", int_type="u32")
    for cidr, asn, org, country in ASN_MAP:
        w.insert_network(
            IPSet([cidr]),
            {
                "autonomous_system_number": asn,
                "autonomous_system_organization": org,
                "country": {"iso_code": country},
            },
        )
    w.to_db_file(str(path))
    return True


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "ringbreaker", *args], capture_output=True, text=True, check=False)


def fingerprints(ws: Path) -> dict[str, str]:
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT key_id, key_fingerprint FROM events "
            "WHERE key_id IS NOT NULL AND key_fingerprint IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    return {str(k): str(f) for k, f in rows}


def detect_alerts(ws: Path, context: Path | None) -> list[dict[str, Any]]:
    args = ["detect", "--workspace", str(ws), "--format", "jsonl", "-q"]
    if context:
        args += ["--context", str(context)]
    res = cli(*args)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"detect failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def ingest(folder: Path, ws: Path, mmdb: Path | None) -> dict[str, Any]:
    args = ["ingest", str(folder), "--workspace", str(ws), "-q"]
    if mmdb:
        args += ["--geoip", str(mmdb)]
    res = cli(*args)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"ingest failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        stored = con.execute("SELECT count(*) FROM events").fetchone()
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()
    finally:
        con.close()
    return {
        "exit": res.returncode,
        "events": stored[0] if stored else 0,
        "quarantined": quarantined[0] if quarantined else 0,
    }


def judge(s: Scenario, alerts: list[dict[str, Any]], fps: dict[str, str]) -> dict[str, Any]:
    target_fps = {fps[k] for k in s.targets if k in fps}
    rows, medium, named = [], 0, 0
    for a in alerts:
        e = a["entities"]
        hit = bool(
            set(e.get("principals", [])) & s.targets or set(e.get("key_fingerprints", [])) & target_fps
        )
        high = SEVERITY.get(a["severity"], 0) >= MEDIUM
        medium += high
        named += high and hit
        rows.append(
            {"rule": a["rule"], "severity": a["severity"], "names_target": hit, "summary": a["summary"]}
        )
    ok = medium == 0 if s.kind == "legit" else named > 0
    return {"alerts": rows, "medium_plus": medium, "named_medium_plus": named, "pass": ok}


def run_scenario(s: Scenario, root: Path, mmdb: Path | None, keep: Path | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    folder = (keep or root) / s.id
    if folder.exists():
        shutil.rmtree(folder)
    trail = folder / "trail"
    trail.mkdir(parents=True)
    files = write_trail(s.records, trail, Gen(s.id + "-files"))
    ctx = folder / "context.yaml"
    ctx.write_text(yaml.safe_dump(s.context, sort_keys=False))
    ws_plain, ws_ctx = root / f"{s.id}-plain.duckdb", root / f"{s.id}-ctx.duckdb"
    ing = ingest(trail, ws_plain, mmdb)
    shutil.copy(ws_plain, ws_ctx)
    fps = fingerprints(ws_plain)
    plain = judge(s, detect_alerts(ws_plain, None), fps)
    withc = judge(s, detect_alerts(ws_ctx, ctx), fps)
    return {
        "id": s.id,
        "kind": s.kind,
        "title": s.title,
        "records": len(s.records),
        "files": files,
        "ingest": ing,
        "targets": sorted(s.targets),
        "without_context": plain,
        "with_context": withc,
        "seconds": time.perf_counter() - t0,
    }


# --- Stratus Red Team detonation logs ----------------------------------------------------------


def stratus_logs(src: Path) -> dict[str, bytes]:
    """technique -> detonation log, from a work tree or a bare/mirror git directory."""
    out: dict[str, bytes] = {}
    tree = src / "docs" / "detonation-logs"
    if tree.is_dir():
        for p in sorted(tree.glob("*.json")):
            out[p.stem] = p.read_bytes()
        return out
    ls = subprocess.run(
        ["git", "--git-dir", str(src), "ls-tree", "-r", "--name-only", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    for path in ls.stdout.splitlines():
        if path.startswith("docs/detonation-logs/") and path.endswith(".json"):
            blob = subprocess.run(
                ["git", "--git-dir", str(src), "show", f"HEAD:{path}"], capture_output=True, check=False
            )
            if blob.returncode == 0:
                out[Path(path).stem] = blob.stdout
    return out


def run_stratus(src: Path, root: Path, jobs: int) -> list[dict[str, Any]]:
    logs = stratus_logs(src)

    def one(item: tuple[str, bytes]) -> dict[str, Any]:
        name, data = item
        folder = root / "stratus" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_bytes(data)
        ws = root / "stratus" / f"{name}.duckdb"
        ing = ingest(folder, ws, None)
        alerts = detect_alerts(ws, None)
        return {
            "technique": name,
            "events": ing["events"],
            "quarantined": ing["quarantined"],
            "alerts": [{"rule": a["rule"], "severity": a["severity"]} for a in alerts],
        }

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, sorted(logs.items())))


# --- Rendering ---------------------------------------------------------------------------------


def fmt_alerts(j: dict[str, Any]) -> str:
    if not j["alerts"]:
        return "—"
    counts: dict[tuple[str, str], int] = {}
    for a in j["alerts"]:
        k = (a["rule"].removeprefix("det."), a["severity"])
        counts[k] = counts.get(k, 0) + 1
    return "<br>".join(f"`{r}` {s}" + (f" x{n}" if n > 1 else "") for (r, s), n in sorted(counts.items()))


def verdict(r: dict[str, Any], key: str) -> str:
    j = r[key]
    if r["kind"] == "legit":
        return ("pass" if j["pass"] else "**FAIL**") + f" ({j['medium_plus']} false)"
    return ("pass" if j["pass"] else "**MISS**") + f" ({j['named_medium_plus']} named)"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Scenario | Records | Alerts without context (rule, severity) | Without context | "
        "Alerts with context | With context |",
        "|---|---:|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| **{r['id']}** {r['title']} | {r['records']:,} | {fmt_alerts(r['without_context'])} | "
            f"{verdict(r, 'without_context')} | {fmt_alerts(r['with_context'])} | "
            f"{verdict(r, 'with_context')} |"
        )
    return lines


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("without_context", "with_context"):
        legit = [r for r in results if r["kind"] == "legit"]
        attack = [r for r in results if r["kind"] == "attack"]
        out[key] = {
            "legit_clean": sum(r[key]["pass"] for r in legit),
            "legit": len(legit),
            "false_medium_plus_alerts": sum(r[key]["medium_plus"] for r in legit),
            "attacks_caught": sum(r[key]["pass"] for r in attack),
            "attacks": len(attack),
            "failed": [r["id"] for r in results if not r[key]["pass"]],
        }
    return out


def render(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["summary"]
    lines = [
        "## detect scenarios",
        "",
        f"Generated by `bench/detect_scenarios.py` on {res['date']} ({m['nproc']} cores, {m['cpu_model']}, "
        f"Python {m['python']}); {len(res['scenarios'])} scenarios, {res['wall_s']:.0f} s wall. "
        "Hand-built CloudTrail histories (S3 delivery shape, gzip) of 12 legitimate behaviours and 10 "
        "LLMjacking attacks, written from real record shapes (Stratus Red Team detonations, AWS Bedrock "
        "CloudTrail docs) and how accounts behave, not from the rules' SQL. Each is ingested with an ASN "
        "database that maps the documentation ranges as GeoLite2-ASN maps real ones (office: Deutsche "
        "Telekom, hotel: Comcast, attackers: DigitalOcean/Hetzner/M247, CI runners: Microsoft, NAT "
        "gateways and a CSPM vendor: Amazon) and detected through the CLI, without and with the owner's "
        "context file. Legitimate: pass with no alert at medium or above; attack: pass when an alert at "
        "medium or above names a target key or principal.",
        "",
        "Provenance: the scenarios are ringbreaker's own (generated by this script); they were written "
        "without reading the rules, but issue 16's rule fixes were then made with their results in view "
        "(the router deploy L5 was fixed after its first run), so they are a development set, not "
        "held-out evidence. The Stratus Red Team logs are DataDog's real recordings; the chain rule was "
        "written knowing the Bedrock technique's shape.",
        "",
    ]
    for key, label in (("without_context", "Without context"), ("with_context", "With context")):
        x = s[key]
        lines.append(
            f"- {label}: legitimate scenarios clean **{x['legit_clean']}/{x['legit']}** "
            f"({x['false_medium_plus_alerts']} false medium+ alerts), attacks caught "
            f"**{x['attacks_caught']}/{x['attacks']}**; failing: {', '.join(x['failed']) or 'none'}."
        )
    lines += ["", *table(res["scenarios"]), ""]
    st = res.get("stratus")
    if st:
        lines += [
            f"### Stratus Red Team detonation logs ({len(st)} techniques, each ingested alone, no context)",
            "",
            "| Technique | Events | Alerts (rule, severity) |",
            "|---|---:|---|",
        ]
        for t in st:
            lines.append(f"| `{t['technique']}` | {t['events']} | {fmt_alerts(t) if t['alerts'] else '—'} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--only", default="", help="comma-separated scenario ids (e.g. A1,L5)")
    ap.add_argument(
        "--keep", type=Path, help="write the scenario files (trail/, context.yaml) under this folder"
    )
    ap.add_argument("--no-geoip", action="store_true", help="ingest without the ASN database")
    ap.add_argument(
        "--stratus",
        type=Path,
        default=os.environ.get("RINGBREAKER_STRATUS") or None,
        help="a stratus-red-team checkout or git mirror: detect over each detonation log",
    )
    ap.add_argument("-j", "--jobs", type=int, default=min(8, os.cpu_count() or 1))
    args = ap.parse_args()

    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    scenarios = [f() for f in SCENARIOS]
    if only:
        scenarios = [s for s in scenarios if s.id in only]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rb-scenarios-") as tmp:
        root = Path(tmp)
        mmdb: Path | None = root / "asn.mmdb"
        if args.no_geoip or not write_mmdb(root / "asn.mmdb"):
            mmdb = None
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            if mmdb:
                shutil.copy(mmdb, args.keep / "asn.mmdb")
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda s: run_scenario(s, root, mmdb, args.keep), scenarios))
        stratus = run_stratus(args.stratus, root, args.jobs) if args.stratus else None
    wall = time.perf_counter() - t0
    res: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "geoip": mmdb is not None,
        "wall_s": wall,
        "summary": summary(results),
        "scenarios": results,
    }
    if stratus is not None:
        res["stratus"] = stratus
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "detect_scenarios.json").write_text(json.dumps(res, indent=2) + "\n")
    text = render(res)
    print(text)
    if not args.no_docs and not only:
        update_docs(text)
    print(f"[detect-scenarios] {len(results)} scenarios in {wall:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
