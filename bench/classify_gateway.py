"""Gateway teams with ordinary traffic: do they get a prompt alert? (issue 12's last target)

Builds a LiteLLM gateway log (the proxy's own SpendLogs JSONL) in a temporary directory: 20
legitimate teams, each with its own key and office address, sending 150 ordinary user prompts over a
working day — ToxicChat's benign prompts (real chatbot users; a held-out evaluation set, read from
its mirror as ``bench/classify_heldout.py`` does, rows in training data dropped) — and 2 resold keys
from hosting addresses sending held-out attacks (JailbreakHub 2023-12 jailbreaks and Tensor Trust
injections, 100 each). Then runs the pipeline a user would: ``ingest``, ``classify``, ``detect``,
and counts, per key, the prompt rules' alerts (``det.prompt.*``) at medium or above.

Prompt text lives only in the temporary directory; the output holds counts only. Nothing here
trains, calibrates or tunes anything; the rules and thresholds are the shipped ones.

Usage::

    .venv/bin/python bench/classify_gateway.py [--data DIR] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify_heldout import default_data, exclusions, prepare  # noqa: E402
from harness import update_docs  # noqa: E402
from heldout_sets import Missing, load_jailbreakhub, load_tensor_trust, load_toxicchat  # noqa: E402
from ringbreaker.classify.data import default_shared  # noqa: E402

TEAMS, PER_TEAM, PER_ABUSER = 20, 150, 100
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _record(i: int, key: str, team: str, ip: str, prompt: str, when: dt.datetime) -> dict[str, Any]:
    return {
        "request_id": f"chatcmpl-gw-{i:06d}",
        "call_type": "acompletion",
        "api_key": hashlib.sha256(key.encode()).hexdigest(),
        "spend": 0.0004,
        "total_tokens": 60,
        "prompt_tokens": 40,
        "completion_tokens": 20,
        "startTime": when.isoformat(),
        "endTime": (when + dt.timedelta(seconds=2)).isoformat(),
        "model": "gpt-4o-mini",
        "custom_llm_provider": "openai",
        "user": "",
        "metadata": {
            "user_api_key_alias": f"{team}-key",
            "user_api_key_team_id": team,
            "headers": {"user-agent": "OpenAI/Python 1.35.3"},
        },
        "team_id": team,
        "end_user": "",
        "requester_ip_address": ip,
        "messages": [{"role": "user", "content": prompt}],
        "response": {},
        "status": "success",
    }


def _rb(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "ringbreaker"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=False, cwd=ROOT)


def run(data: Path) -> dict[str, Any]:
    excl, _ = exclusions(default_shared())
    benign, _ = prepare(load_toxicchat(data), excl, 100_000)
    attacks = [
        prepare(load_jailbreakhub(data), excl, 100_000)[0]["jailbreaks"][:PER_ABUSER],
        prepare(load_tensor_trust(data), excl, 100_000)[0]["attacks"][:PER_ABUSER],
    ]
    users = benign["benign"]
    if len(users) < TEAMS * PER_TEAM:
        raise Missing(f"only {len(users)} ToxicChat benign prompts")
    day = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory(prefix="rb-gateway-") as tmp:
        log = Path(tmp) / "spendlogs.jsonl"
        n = 0
        with log.open("w", encoding="utf-8") as fh:
            for t in range(TEAMS):
                key = f"sk-team-{t:02d}"
                for j, p in enumerate(users[t * PER_TEAM : (t + 1) * PER_TEAM]):
                    when = day + dt.timedelta(minutes=3 * j + t)
                    fh.write(
                        json.dumps(_record(n, key, f"team-{t:02d}", f"198.51.100.{10 + t}", p, when)) + "\n"
                    )
                    n += 1
            for a, prompts in enumerate(attacks):
                key = f"sk-resold-{a}"
                for j, p in enumerate(prompts):
                    when = day + dt.timedelta(minutes=4 * j)
                    fh.write(json.dumps(_record(n, key, f"team-r{a}", f"203.0.113.{77 + a}", p, when)) + "\n")
                    n += 1
        ws = Path(tmp) / "gw.duckdb"
        for step in (("ingest", str(log)), ("classify",), ("detect",)):
            fmt = "json" if step[0] == "ingest" else "jsonl"
            r = _rb(*step, "--workspace", str(ws), "-q", "--format", fmt)
            if r.returncode not in (0, 1):
                raise RuntimeError(f"{step[0]} failed: {r.stderr.strip()[-400:]}")
        alerts = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        import duckdb

        con = duckdb.connect(str(ws), read_only=True)
        by_ip = {f"198.51.100.{10 + t}": f"team-{t:02d}" for t in range(TEAMS)}
        by_ip |= {f"203.0.113.{77 + a}": f"resold-{a}" for a in range(len(attacks))}
        fingerprint_owner = {
            fp: by_ip.get(str(ip), str(ip))
            for fp, ip in con.execute("SELECT DISTINCT key_fingerprint, src_ip FROM events").fetchall()
        }
        con.close()
    per_key: dict[str, Counter[str]] = defaultdict(Counter)
    for al in alerts:
        if not str(al.get("rule", "")).startswith("det.prompt.") or RANK.get(al.get("severity"), 0) < 2:
            continue
        for fp in al.get("entities", {}).get("key_fingerprints", []) or []:
            per_key[fingerprint_owner.get(fp, fp)][al["rule"]] += 1
    teams = [f"team-{t:02d}" for t in range(TEAMS)]
    return {
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "events": n,
        "teams": TEAMS,
        "prompts_per_team": PER_TEAM,
        "legit_teams_alerted": sum(1 for t in teams if per_key.get(t)),
        "legit_alerts": sum(sum(per_key.get(t, Counter()).values()) for t in teams),
        "resold_keys_alerted": sum(1 for a in range(len(attacks)) if per_key.get(f"resold-{a}")),
        "per_key": {k: dict(v) for k, v in sorted(per_key.items())},
    }


def markdown(res: dict[str, Any]) -> str:
    return (
        "## classify: gateway teams\n\n"
        f"Generated by `bench/classify_gateway.py` on {res['generated']}. A LiteLLM SpendLogs world of "
        f"{res['events']:,} requests: {res['teams']} legitimate teams sending {res['prompts_per_team']} "
        "ToxicChat benign prompts each (held-out set, rows in training data dropped) from their own "
        "key and office address, and 2 resold keys sending 100 JailbreakHub 2023-12 jailbreaks and 100 "
        "Tensor Trust attacks from hosting addresses; `ingest`, `classify`, `detect` with the "
        "shipped model, rules and thresholds.\n\n"
        "| Measure | Value | Target |\n|---|---:|---:|\n"
        f"| legitimate teams with a prompt alert (`det.prompt.*`) at medium or above | "
        f"{res['legit_teams_alerted']} of {res['teams']} ({res['legit_alerts']} alerts) | 0 |\n"
        f"| resold keys with such an alert | {res['resold_keys_alerted']} of 2 | 2 |\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="held-out mirrors (as classify_heldout.py)")
    ap.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    a = ap.parse_args()
    try:
        res = run(a.data or default_data())
    except Missing as e:
        print(f"nothing to measure: {e}")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "classify_gateway.json").write_text(json.dumps(res, indent=1) + "\n")
    if not a.no_docs:
        update_docs(markdown(res))
    print(markdown(res))
    print(json.dumps(res["per_key"], indent=1))


if __name__ == "__main__":
    main()
