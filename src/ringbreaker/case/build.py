"""Assemble case.json for one crew: the single structure the HTML page and the STIX bundle render.

The structure is documented in case.schema.json (validated in the tests) and in docs/case.md. It
holds only redacted previews and SHA-256 fingerprints of keys, never a key.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringbreaker import __version__
from ringbreaker.case import load
from ringbreaker.case.prices import estimate
from ringbreaker.model import Case, Role

if TYPE_CHECKING:
    import duckdb

SCHEMA_ID = "ringbreaker.case/1"

# Stage id -> plain-language name, in the order the operation usually unfolds.
STAGES = {
    "leak": "Key published in public code",
    "key-check": "Key tested by the group",
    "model-enablement": "AI models switched on",
    "abuse": "Group starts using the key",
    "guardrail-tampering": "Safety controls weakened",
    "prohibited-content": "Prohibited content requested",
}
ROLE_NAMES = {
    Role.CREATOR: "Creators: wrote and published the tools",
    Role.PROVIDER: "Providers: ran the service and pooled the stolen keys",
    Role.USER: "Users: bought access and sent the requests",
}
# Hosts on these suffixes belong to a shared service (tunnels, free hosting): ask the service to take the
# host down; seizing the parent domain would hit every other customer.
SHARED_SUFFIXES = (
    "trycloudflare.com",
    "ngrok.io",
    "ngrok-free.app",
    "ngrok.app",
    "loca.lt",
    "herokuapp.com",
    "vercel.app",
    "onrender.com",
    "railway.app",
    "hf.space",
    "glitch.me",
    "repl.co",
    "workers.dev",
    "pages.dev",
    "fly.dev",
    "github.io",
)
_PREFIX = {"proxy_host": "host", "user_agent": "tool"}  # member kind -> link-chart node id prefix
MAX_LINK_NODES = 12  # per column of the link chart; the rest is counted, not drawn


def build_case(con: duckdb.DuckDBPyConnection, crew_id: str, *, workspace: str = "") -> Case:
    """The case for ``crew_id`` as a JSON-ready dict (see case.schema.json)."""
    data = load.load_crew(con, crew_id)
    usage = load.usage_by_model(con)
    cost = estimate(usage, load.workspace_averages(con))
    if cost["unpriced_models"]:
        data["gaps"].append(
            "No list price is known for: "
            + ", ".join(cost["unpriced_models"])
            + " (not included in the cost)."
        )
    infra = infrastructure(data, load.links(con, data["members"]))
    infra["shared"], infra["proxy_pool"] = data["shared"], data["proxy_pool"]
    members = {r: [] for r in load.ROLES}  # type: dict[str, list[dict[str, Any]]]
    for m in data["members"]:
        members.setdefault(m["role"], []).append(
            {k: m[k] for k in ("kind", "entity", "confidence", "evidence")}
            | {"evidence_ids": list(m["evidence_ids"])}
            | {k: m.get(k) for k in ("infra_role", "first_seen", "last_seen")}
        )
    timeline = [
        {**t, "stage_name": STAGES.get(t["stage"], t["stage"]), "evidence_ids": list(t["evidence_ids"])}
        for t in data["timeline"]
    ]
    case: Case = {
        "schema": SCHEMA_ID,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": f"ringbreaker {__version__}",
        "workspace": workspace,
        "crew": data["crew"],
        "members": members,
        "keys": data["keys"],
        "timeline": timeline,
        "infrastructure": infra,
        "evidence": {
            "alerts": [{**a, "src_ips": list(a["src_ips"])} for a in data["alerts"]],
            "events": data["events"],
            "events_total": data["events_total"],
            "events_listed": len(data["events"]),
            "findings": data["findings"],
        },
        "cost": cost,
        "actions": actions(data),
        "gaps": data["gaps"],
        "summary": {},  # read from the rest just below; last in case.json, where it has always been
    }
    case["summary"] = summary(case)
    return case


def infrastructure(data: dict[str, Any], link_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Nodes (keys, network addresses and hosts, tools) and the links the events show between them."""
    keys = {k["fingerprint"]: k for k in data["keys"]}
    by_victim = {str(k["victim"]).lower(): k["fingerprint"] for k in data["keys"] if k["victim"]}
    nodes: dict[str, dict[str, Any]] = {}
    weight: dict[tuple[str, str], int] = {}

    def node(nid: str, kind: str, label: str, detail: str = "") -> str:
        n = nodes.setdefault(nid, {"id": nid, "kind": kind, "label": label, "detail": detail, "events": 0})
        return str(n["id"])

    for fp, k in keys.items():
        node(f"key:{fp}", "key", k["preview"], k["victim"] or "")
    for m in data["members"]:
        if m["kind"] == "ip":
            node(f"ip:{m['entity']}", "ip", m["entity"])
        elif m["kind"] == "proxy_host":
            node(f"host:{m['entity']}", "proxy_host", m["entity"])
        elif m["kind"] in ("tool", "user_agent"):
            node(f"tool:{m['entity']}", "tool", m["entity"])
    for r in link_rows:
        fp = (
            r["key_fingerprint"] if r["key_fingerprint"] in keys else by_victim.get(str(r["account"]).lower())
        )
        ip = r["src_ip"]
        n = int(r["events"])
        if ip:
            ipn = node(f"ip:{ip}", "ip", ip, "masked by the log source" if "*" in ip else "")
            nodes[ipn]["events"] += n
            if fp:
                weight[(f"key:{fp}", ipn)] = weight.get((f"key:{fp}", ipn), 0) + n
                nodes[f"key:{fp}"]["events"] += n
            if r["user_agent"]:
                tn = node(f"tool:{r['user_agent']}", "tool", r["user_agent"])
                nodes[tn]["events"] += n
                weight[(ipn, tn)] = weight.get((ipn, tn), 0) + n
    for a in data["alerts"]:  # a proxy host named by an alert together with source IPs
        for h in a["proxy_hosts"]:
            hn = node(f"host:{h}", "proxy_host", h)
            for ip in a["src_ips"]:
                ipn = node(f"ip:{ip}", "ip", ip)
                weight[(ipn, hn)] = weight.get((ipn, hn), 0) + int(a["count"])
    # Keep the busiest nodes of each kind (members are always kept).
    member_ids = {f"{_PREFIX.get(m['kind'], m['kind'])}:{m['entity']}" for m in data["members"]}
    kept: set[str] = set()
    hidden: dict[str, int] = {}
    for kind in ("key", "ip", "proxy_host", "tool"):
        group = sorted(
            (x for x in nodes.values() if x["kind"] == kind), key=lambda x: (-x["events"], x["id"])
        )
        for i, nd in enumerate(group):
            if kind == "key" or i < MAX_LINK_NODES or nd["id"] in member_ids:
                kept.add(nd["id"])
            else:
                hidden[kind] = hidden.get(kind, 0) + 1
    edges = [
        {"source": s, "target": t, "events": w}
        for (s, t), w in sorted(weight.items())
        if s in kept and t in kept
    ]
    return {
        "nodes": [nodes[i] for i in sorted(kept, key=lambda i: (nodes[i]["kind"], i))],
        "edges": edges,
        "hidden": hidden,
    }


def actions(data: dict[str, Any]) -> dict[str, Any]:
    """What a takedown or legal team can do next, each item with the reason."""
    ms = data["members"]
    hosts = sorted({m["entity"] for m in ms if m["kind"] == "proxy_host"})
    domains = []
    for h in hosts:
        shared = next((s for s in SHARED_SUFFIXES if h == s or h.endswith("." + s)), None)
        if shared:
            domains.append(
                {"domain": h, "action": "takedown-request", "why": f"host on the shared service {shared}"}
            )
        else:
            reg = ".".join(h.split(".")[-2:])
            domains.append({"domain": reg, "action": "seize", "why": f"registered domain of proxy host {h}"})
    return {
        "revoke_keys": [
            {
                "fingerprint": k["fingerprint"],
                "preview": k["preview"],
                "provider": k["provider"],
                "victim": k["victim"],
                "why": "used by the crew"
                + (f"; leaked at {k['leak_location']}" if k["leak_location"] else ""),
            }
            for k in data["keys"]
        ],
        "block_ips": [{"ip": m["entity"], "why": m["evidence"]} for m in ms if m["kind"] == "ip"],
        "block_hosts": [{"host": h, "why": "proxy host run by the crew"} for h in hosts],
        "seize_domains": domains,
        "refer_accounts": [
            {"account": m["entity"], "kind": m["kind"], "role": m["role"], "why": m["evidence"]}
            for m in ms
            if m["kind"] in ("person", "account")
        ],
        "watch_user_agents": [
            {"user_agent": m["entity"], "why": m["evidence"]}
            for m in ms
            if m["kind"] in ("tool", "user_agent")
        ],
    }


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 key', '2 keys', '1,204 recorded requests'."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def when_text(ts: str | None) -> str:
    """A timestamp as a lawyer reads it: 5 March 2025, 13:29 UTC."""
    if not ts:
        return "an unknown time"
    d = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
    return f"{d.day} {d:%B %Y}, {d:%H:%M} UTC"


def summary(case: Case) -> dict[str, Any]:
    """Headline figures and a short executive summary in plain language."""
    m, keys, crew = case["members"], case["keys"], case["crew"]
    people = {r: sum(1 for x in m.get(r, []) if x["kind"] in ("person", "account")) for r in load.ROLES}
    users = sum(1 for x in m.get(Role.USER, []) if x["kind"] in ("end_user", "person", "account"))
    victims = sorted({k["victim"] for k in keys if k["victim"]})
    minutes = [float(k["minutes_to_abuse"]) for k in keys if k["minutes_to_abuse"] is not None]
    cost = case["cost"]
    stages = {t["stage"] for t in case["timeline"]}
    tamper = sum(1 for t in case["timeline"] if t["stage"] == "guardrail-tampering")
    when = (
        f"Between {when_text(crew['first_time'])} and {when_text(crew['last_time'])}, the"
        if crew["first_time"] and crew["last_time"]
        else "The"
    )
    text = [
        f"{when} group we call \u201c{crew['name']}\u201d used {plural(len(keys), 'stolen AI service key')} "
        f"belonging to {plural(len(victims), 'organisation')}."
        if keys
        else f"{when} group we call \u201c{crew['name']}\u201d has no stolen keys linked to it yet."
    ]
    if minutes:
        which = "The keys" if len(minutes) == len(keys) else f"{len(minutes)} of the keys"
        text.append(
            f"{which} had been published by mistake in public code. The group began using them a median of "
            f"{statistics.median(minutes):.0f} minutes after they appeared (fastest: {min(minutes):.0f} "
            "minutes)."
        )
    creators = people[Role.CREATOR]
    text.append(
        f"{plural(creators, 'person', 'people')} wrote and published the tools, "
        f"{plural(people[Role.PROVIDER], 'person or account', 'people or accounts')} ran the service that "
        f"resold access, and {plural(users, 'customer account')} used it."
    )
    if case["evidence"]["events_total"] or cost["total_usd_estimated"]:
        text.append(
            "Through the stolen keys the group made "
            f"{plural(case['evidence']['events_total'], 'recorded request')}. "
            f"The estimated cost to the victims is ${cost['total_usd_estimated']:,.2f} "
            f"(${cost['total_usd_metered']:,.2f} of it recorded token by token in the logs)."
        )
    if tamper:
        text.append(f"The group weakened the victims' safety or logging controls {plural(tamper, 'time')}.")
    if "prohibited-content" in stages:
        text.append("Requests for content the providers prohibit were sent through the stolen keys.")
    a = case["actions"]
    text.append(
        f"We recommend revoking {plural(len(a['revoke_keys']), 'key')}, blocking "
        f"{plural(len(a['block_ips']), 'network address', 'network addresses')} and "
        f"{plural(len(a['block_hosts']), 'host')}, and referring "
        f"{plural(len(a['refer_accounts']), 'account')}."
    )
    if case["gaps"]:
        text.append(
            "Parts of this case are incomplete; see \u201cWhat this case does not show\u201d "
            f"({len(case['gaps'])})."
        )
    return {
        "text": text,
        "keys": len(keys),
        "victims": len(victims),
        "creators": people[Role.CREATOR],
        "providers": people[Role.PROVIDER],
        "users": users,
        "events": case["evidence"]["events_total"],
        "median_minutes_to_abuse": round(statistics.median(minutes), 1) if minutes else None,
        "cost_usd_estimated": cost["total_usd_estimated"],
        "cost_usd_metered": cost["total_usd_metered"],
    }
