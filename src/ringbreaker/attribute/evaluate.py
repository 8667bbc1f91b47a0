"""Score an attribution against a simulated world's truth.json (tests and bench/attribute.py).

Crew agreement is the adjusted Rand index over the ring members both sides know (the planted
members the attribution found, plus any entity it put in a crew that truth does not: those count
as their own singleton truth cluster, so stray members lower the score).
"""

from __future__ import annotations

from collections import Counter
from math import comb
from typing import Any

import duckdb


def adjusted_rand(truth: list[str], pred: list[str]) -> float:
    """Hubert and Arabie's ARI of two labelings of the same items (1.0 = identical partitions)."""
    n = len(truth)
    if n < 2:
        return 1.0
    pairs = Counter(zip(truth, pred, strict=True))
    index = sum(comb(c, 2) for c in pairs.values())
    a = sum(comb(c, 2) for c in Counter(truth).values())
    b = sum(comb(c, 2) for c in Counter(pred).values())
    expected = a * b / comb(n, 2)
    best = (a + b) / 2
    return 1.0 if best == expected else (index - expected) / (best - expected)


def evaluate(con: duckdb.DuckDBPyConnection, truth: dict[str, Any]) -> dict[str, Any]:
    """ARI, role accuracy, strays (legitimate entities or victims in a crew) and key coverage."""
    planted = {(m["kind"], m["value"]): (c["id"], m["role"]) for c in truth["crews"] for m in c["members"]}
    rows = con.execute("SELECT crew_id, kind, entity, role FROM crew_members").fetchall()
    found = {(k, e): (c, r) for c, k, e, r in rows}
    legit = set(truth["legit"].get("ips", [])) | set(truth["legit"].get("user_agents", []))
    legit |= {o["id"] for o in truth["orgs"]} | {o.get("account") for o in truth["orgs"] if o.get("account")}
    strays = sorted(f"{k}:{e}" for (k, e) in found if (k, e) not in planted and e in legit)
    items = sorted(set(found) | {p for p in planted if p[0] != "end_user" or p in found})
    t_labels = [planted[i][0] if i in planted else f"stray:{i}" for i in items]
    p_labels = [found[i][0] if i in found else f"missed:{i}" for i in items]
    both = [i for i in found if i in planted]
    correct_roles = sum(found[i][1] == planted[i][1] for i in both)
    compromised = {k["fingerprint"] for k in truth["keys"] if k.get("compromised")}
    keyed = Counter(fp for (fp,) in con.execute("SELECT key_fingerprint FROM crew_keys").fetchall())
    return {
        "crews_truth": len(truth["crews"]),
        "crews_found": int(con.execute("SELECT count(*) FROM crews").fetchall()[0][0]),
        "ari": round(adjusted_rand(t_labels, p_labels), 4),
        "members_planted": len(planted),
        "members_found": len(both),
        "members_extra": len(found) - len(both),
        "role_accuracy": round(correct_roles / len(both), 4) if both else 0.0,
        "strays": strays,
        "keys_compromised": len(compromised),
        "keys_in_exactly_one_case": sum(keyed[k] == 1 for k in compromised),
        "keys_not_compromised_in_case": sorted(k[:12] for k in keyed if k not in compromised),
    }
