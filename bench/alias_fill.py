"""Benchmark the inventory key-id fill (``workspace.aliases``) on a big workspace.

The fill runs after every ``ingest`` and every ``scan --workspace``, so its cost is added to both.
A workspace of ``--events`` events is written directly in SQL, shaped like a busy tenant: 90%
CloudTrail with long-term keys (never filled), 4% CloudTrail with temporary ``ASIA`` keys (candidates
for ``aws-principal``), 6% Azure OpenAI diagnostics of key-authenticated calls over 50 resources
(``azure-resource``) and 2,000 OpenAI audit events of 20 admin keys (``openai-key-id``); every ``raw``
is a ~300-byte JSON record. Timed, each in a fresh connection: the fill with no aliases (what every
ingest pays without an inventory), storing an inventory of 20 key ids + 10 resources + 10 principals
(the first fill), the fill again with nothing new (what each later ingest pays), and replacing the
inventory with one that drops half the ids (the undo path), and the fill after 100k more events are
appended (what an ingest pays: only the rows it stored are looked at).

Usage::

    .venv/bin/python bench/alias_fill.py                # 10M events
    .venv/bin/python bench/alias_fill.py --events 1e6   # smoke test
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ringbreaker.model import KeyAlias
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.aliases import fill_key_fingerprints, last_event, store_aliases

_EVENTS = """
INSERT INTO events (id, time, provider, operation, status, actor, actor_type, resource, key_id,
                    key_fingerprint, src_ip, source_format, source_file, raw)
SELECT 'e' || i, TIMESTAMPTZ '2025-03-03 00:00:00+00' + INTERVAL (i % 864000) SECOND,
       CASE WHEN k < 94 THEN 'aws' WHEN k < 100 THEN 'azure' END, 'InvokeModel', 'success',
       CASE WHEN k < 94 THEN 'arn:aws:iam::111122223333:user/svc-' || (i % 200) END,
       CASE WHEN k < 94 THEN 'IAMUser' ELSE 'api_key' END,
       CASE WHEN k >= 94 THEN '/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES'
                              || '/ACCOUNTS/RES' || (i % 50) END,
       CASE WHEN k < 90 THEN 'AKIA' || lpad((i % 400)::VARCHAR, 16, '0')
            WHEN k < 94 THEN 'ASIA' || lpad((i % 100000)::VARCHAR, 16, '0') END,
       CASE WHEN k < 94 THEN sha256(CASE WHEN k < 90 THEN 'AKIA' || lpad((i % 400)::VARCHAR, 16, '0')
                                         ELSE 'ASIA' || lpad((i % 100000)::VARCHAR, 16, '0') END) END,
       '198.18.' || (i % 250) || '.' || (i % 200),
       CASE WHEN k < 94 THEN 'cloudtrail' ELSE 'azure-diagnostics' END, 'bench.json',
       '{"eventName":"InvokeModel","eventSource":"bedrock.amazonaws.com","requestParameters":{"modelId":'
         || '"anthropic.claude-3-haiku-20240307-v1:0"},"userAgent":"Boto3/1.34.144 md/Botocore#1.34.144",'
         || '"awsRegion":"us-east-1","n":' || i || '}'
FROM (SELECT i, hash(i) % 100 AS k FROM range(?, ?) t(i))
"""
_AUDIT = """
INSERT INTO events (id, time, provider, operation, status, actor, actor_type, key_id, source_format,
                    source_file, raw)
SELECT 'a' || i, TIMESTAMPTZ '2025-03-03 00:00:00+00' + INTERVAL (i * 60) SECOND, 'openai',
       'project.created', 'success', 'ops@example.com', 'api_key', 'key_admin' || (i % 20),
       'openai-audit', 'audit.json',
       '{"type":"project.created","actor":{"type":"api_key","api_key":{"id":"key_admin' || (i % 20) || '"}}}'
FROM range(2000) t(i)
"""


def _inventory(half: bool) -> list[KeyAlias]:
    now = datetime.now(UTC)
    ids = [("openai-key-id", f"key_admin{n}") for n in range(20)]
    ids += [("azure-resource", f"res{n}") for n in range(10)]
    ids += [("aws-principal", f"arn:aws:iam::111122223333:user/svc-{n}") for n in range(10)]
    if half:
        ids = ids[::2]
    return [KeyAlias(a, k, f"{n:064x}", "/bench/keys.txt", now) for n, (k, a) in enumerate(ids)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=10e6)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "alias_fill.json")
    args = ap.parse_args()
    n = int(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws.duckdb"
        con = open_workspace(ws)
        t = time.perf_counter()
        con.execute(_EVENTS, [0, n])
        con.execute(_AUDIT)
        con.execute("CHECKPOINT")
        con.close()
        print(f"workspace: {n + 2000:,} events in {time.perf_counter() - t:.1f} s")
        result: dict[str, object] = {"events": n + 2000}
        steps = [
            ("fill, no aliases", fill_key_fingerprints),
            (
                "store inventory + first fill",
                lambda c: store_aliases(c, "/bench/keys.txt", _inventory(False)),
            ),
            ("fill again, nothing new", fill_key_fingerprints),
            (
                "replace inventory, half the ids",
                lambda c: store_aliases(c, "/bench/keys.txt", _inventory(True)),
            ),
        ]
        for name, step in steps:
            con = open_workspace(ws)
            t = time.perf_counter()
            fill = step(con)
            s = time.perf_counter() - t
            con.close()
            print(f"{name:34s} {s:6.2f} s  joined {fill.joined:,}  undone {fill.undone:,}")
            result[name] = {"seconds": round(s, 3), "joined": fill.joined, "undone": fill.undone}
        # what an ingest of 100k more events pays: the fill of the rows it appended
        con = open_workspace(ws)
        before = last_event(con)
        con.execute(_EVENTS.replace("'e' || i", "'n' || i"), [n, n + 100_000])
        t = time.perf_counter()
        fill = fill_key_fingerprints(con, since=before)
        s = time.perf_counter() - t
        con.close()
        name = "after an ingest of 100k events"
        print(f"{name:34s} {s:6.2f} s  joined {fill.joined:,}  undone {fill.undone:,}")
        result[name] = {"seconds": round(s, 3), "joined": fill.joined, "undone": fill.undone}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
