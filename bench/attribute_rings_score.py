"""Scores an attributed workspace against a harder-ring world's truth.json (bench/attribute_rings.py).

Read from the workspace only what ``attribute`` writes (crews, crew_members, crew_keys) and, when
they exist, what v2 may add: ``crew_members.infra_role`` and ``crew_edges`` rows of kind
``pool-address`` (an address a crew's proxy-pool summary names, with its ``crew_id``). Those are
looked up, never required, so the same bench scores today's attribute and the rewrite.

Metrics, per seed:
- ``ari``: adjusted Rand index over every crew's keys and addresses (shared VPN exits left out:
  they belong to several crews), each item labelled by the found crew naming it, items in no crew
  (or only in the ``unattributed`` case) each its own singleton; ``ari_own`` the same without the
  proxy-pool addresses (thousands of them would outweigh every other item).
- per crew: the found crew holding most of its keys and own hosts (``match``), the share of its
  addresses named by that crew (all, own hosts, proxy pool), its keys there, how many found crews
  hold its items, and role accuracy where ``infra_role`` exists (``role_confusion``: the wrong
  ``truth->found`` pairs).
- ``keys_in_one_crew``: stolen keys in exactly one crew (not counting ``unattributed``);
  ``legit_keys_in_crews``, ``legit_addresses_in_crews`` (addresses only legitimate organisations
  used); ``shared_merging``: shared addresses whose crews ended up in one found crew;
  ``detect_coverage``: stolen keys named by a high or critical alert (by fingerprint, or for Azure by
  resource id, for the admin key by key id).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import duckdb

from ringbreaker.attribute.evaluate import adjusted_rand

OWN_ROLES = ("checker", "control-plane", "egress")


def _has(con: duckdb.DuckDBPyConnection, table: str, column: str | None = None) -> bool:
    q = "SELECT count(*) FROM information_schema.columns WHERE table_name = ?"
    args = [table]
    if column:
        q += " AND column_name = ?"
        args.append(column)
    row = con.execute(q, args).fetchone()
    return bool(row and row[0])


def _norm_role(role: str | None) -> str:
    return (role or "").strip().lower().replace("_", "-").replace(" ", "-")


def found(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What attribute wrote: crew names, ip members (with infra_role if any), keys, pool edges."""
    crews = dict(con.execute("SELECT id, name FROM crews").fetchall())
    unattributed = {c for c, n in crews.items() if "unattributed" in (c + " " + n).lower()}
    role_col = _has(con, "crew_members", "infra_role")
    sel = "infra_role" if role_col else "NULL"
    ips: dict[str, dict[str, str]] = defaultdict(dict)  # ip -> crew -> role
    for crew, ip, role in con.execute(
        f"SELECT crew_id, entity, {sel} FROM crew_members WHERE kind = 'ip'"
    ).fetchall():
        ips[ip][crew] = _norm_role(role)
    if _has(con, "crew_edges", "crew_id"):
        rows = con.execute("SELECT crew_id, target FROM crew_edges WHERE kind = 'pool-address'").fetchall()
        for crew, target in rows:  # the target names an address, bare or as ``ip:ADDRESS``
            ips[target.removeprefix("ip:")].setdefault(crew, "proxy-pool")
    keys: dict[str, set[str]] = defaultdict(set)
    for crew, fp in con.execute("SELECT crew_id, key_fingerprint FROM crew_keys").fetchall():
        keys[fp].add(crew)
    return {"crews": crews, "unattributed": unattributed, "ips": ips, "keys": keys, "infra_role": role_col}


def _label(item_crews: set[str] | dict[str, str], unattributed: set[str], item: str) -> str:
    real = sorted(c for c in item_crews if c not in unattributed)
    return real[0] if real else f"single:{item}"


def score(con: duckdb.DuckDBPyConnection, truth: dict[str, Any]) -> dict[str, Any]:
    f = found(con)
    un, ips, keys = f["unattributed"], f["ips"], f["keys"]
    shared = {s["ip"] for s in truth["shared"] if len(s["crews"]) > 1}
    items: list[tuple[str, str, str]] = []  # (item, truth crew, kind: key | own | pool)
    for c in truth["crews"]:
        items += [(k["fingerprint"], c["name"], "key") for k in c["keys"]]
        for a in c["addresses"]:
            if a["ip"] not in shared:
                items.append((a["ip"], c["name"], "pool" if a["role"] == "proxy-pool" else "own"))

    def pred(item: str, kind: str) -> str:
        return _label(keys.get(item, set()) if kind == "key" else ips.get(item, {}), un, item)

    labels = [(t, pred(i, k), k) for i, t, k in items]
    res: dict[str, Any] = {
        "crews_truth": len(truth["crews"]),
        "crews_found": len([c for c in f["crews"] if c not in un]),
        "ari": round(adjusted_rand([t for t, _, _ in labels], [p for _, p, _ in labels]), 4),
        "ari_own": round(
            adjusted_rand([t for t, _, k in labels if k != "pool"], [p for _, p, k in labels if k != "pool"]),
            4,
        ),
        "infra_role_column": f["infra_role"],
    }
    per_crew, match = [], {}
    role_hits = role_total = 0
    confusion: Counter[str] = Counter()  # "truth->found" role pairs of named addresses
    for c in truth["crews"]:
        name = c["name"]
        votes = Counter(p for t, p, k in labels if t == name and k != "pool" and not p.startswith("single:"))
        m = votes.most_common(1)[0][0] if votes else None
        match[name] = m
        addrs = [a for a in c["addresses"] if a["ip"] not in shared]
        own = [a for a in addrs if a["role"] in OWN_ROLES]
        pool = [a for a in addrs if a["role"] == "proxy-pool"]

        def named(group: list[dict[str, Any]], m: str | None = m) -> float | None:
            return (
                round(sum(1 for a in group if m in ips.get(a["ip"], {})) / len(group), 3) if group else None
            )

        hits = [a for a in addrs if m in ips.get(a["ip"], {}) and ips[a["ip"]][m]]
        if f["infra_role"] and m:
            role_total += len(hits)
            role_hits += sum(1 for a in hits if ips[a["ip"]][m] == a["role"])
            confusion.update(f"{a['role']}->{ips[a['ip']][m]}" for a in hits if ips[a["ip"]][m] != a["role"])
        crews_holding = {p for t, p, _ in labels if t == name and not p.startswith("single:")}
        per_crew.append(
            {
                "crew": name,
                "match": m,
                "keys": len(c["keys"]),
                "keys_in_match": sum(1 for k in c["keys"] if m in keys.get(k["fingerprint"], set())),
                "addresses": len(addrs),
                "named": named(addrs),
                "own_named": named(own),
                "pool_named": named(pool),
                "found_crews_holding": len(crews_holding),
                "role_accuracy": round(sum(1 for a in hits if ips[a["ip"]][m] == a["role"]) / len(hits), 3)
                if f["infra_role"] and hits
                else None,
            }
        )
    res["per_crew"] = per_crew
    stolen = [k for c in truth["crews"] for k in c["keys"]]
    in_real = {
        k["fingerprint"]: {x for x in keys.get(k["fingerprint"], set()) if x not in un} for k in stolen
    }
    res["keys_stolen"] = len(stolen)
    res["keys_in_one_crew"] = sum(1 for v in in_real.values() if len(v) == 1)
    res["keys_unattributed"] = sum(
        1 for k in stolen if not in_real[k["fingerprint"]] and keys.get(k["fingerprint"])
    )
    res["keys_nowhere"] = sum(1 for k in stolen if not keys.get(k["fingerprint"]))
    res["legit_keys_in_crews"] = sum(
        1 for k in truth["legit"]["keys"] if any(x not in un for x in keys.get(k["fingerprint"], set()))
    )
    crew_ips = {a["ip"] for c in truth["crews"] for a in c["addresses"]}
    legit_only = {a["ip"] for a in truth["legit"]["addresses"]} - crew_ips
    res["legit_addresses_in_crews"] = sum(1 for ip in legit_only if any(x not in un for x in ips.get(ip, {})))
    merged_pairs = sorted(
        {f"{a}+{b}" for a in match for b in match if a < b and match[a] is not None and match[a] == match[b]}
    )
    res["crews_merged"] = merged_pairs
    res["shared_addresses"] = len(shared)
    res["shared_merging"] = sum(
        1
        for s in truth["shared"]
        if len(s["crews"]) > 1
        and len({match.get(c) for c in s["crews"]} - {None}) < len([c for c in s["crews"] if match.get(c)])
    )
    res["role_accuracy"] = round(role_hits / role_total, 3) if role_total else None
    res["role_confusion"] = dict(confusion.most_common())
    res["detect_coverage"] = _coverage(con, stolen)
    return res


def _coverage(con: duckdb.DuckDBPyConnection, stolen: list[dict[str, Any]]) -> float | None:
    """Share of stolen keys a high or critical alert names (fingerprint, Azure resource, key id)."""
    if not stolen:
        return None
    rows = con.execute(
        "SELECT key_fingerprints, resources, principals FROM alerts WHERE severity IN ('high', 'critical')"
    ).fetchall()
    named: set[str] = set()
    for fps, res, princ in rows:
        named |= set(fps or []) | {r.upper() for r in res or []} | set(princ or [])
    hit = 0
    for k in stolen:
        if k["fingerprint"] in named or (k["key_id"] or "").upper() in named or k["key_id"] in named:
            hit += 1
    return round(hit / len(stolen), 3)


def render(seeds: list[dict[str, Any]]) -> str:
    """A compact table: one line per seed, then one per crew."""
    lines = [
        "seed  events  crews t/f  ARI    ARI-own  keys 1-crew  legit keys/addrs  shared-merge  roles  "
        "detect  attr s",
    ]
    for r in seeds:
        tag = f"{r['seed']}{'*' if r['held_out'] else ''}"
        roles = "-" if r["role_accuracy"] is None else f"{r['role_accuracy']:.2f}"
        lines.append(
            f"{tag:<5} {r['events']:>7} {r['crews_truth']:>4}/{r['crews_found']:<4} {r['ari']:<6.3f} "
            f"{r['ari_own']:<8.3f} {r['keys_in_one_crew']:>3}/{r['keys_stolen']:<8} "
            f"{r['legit_keys_in_crews']:>3}/{r['legit_addresses_in_crews']:<13} "
            f"{r['shared_merging']:>3}/{r['shared_addresses']:<9} {roles:<6} {r['detect_coverage']:<7} "
            f"{r['seconds']['attribute']}"
        )
    lines.append("")
    lines.append("seed  crew        match          keys  addrs  named  own    pool   crews  roles")
    for r in seeds:
        for c in r["per_crew"]:

            def pct(x: float | None) -> str:
                return "-" if x is None else f"{x:.2f}"

            named = f"{pct(c['named']):<6} {pct(c['own_named']):<6} {pct(c['pool_named']):<6}"
            lines.append(
                f"{r['seed']:<5} {c['crew']:<11} {c['match'] or '-':<14} "
                f"{c['keys_in_match']:>2}/{c['keys']:<2} "
                f"{c['addresses']:>5}  {named} {c['found_crews_holding']:<6} {pct(c['role_accuracy'])}"
            )
    lines.append("(* held-out seed)")
    return "\n".join(lines)
