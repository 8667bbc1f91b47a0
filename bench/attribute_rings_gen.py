"""Writes one harder-ring world from a seed: logs, the public repositories the keys leak in, an
ASN database for ``ingest --geoip``, and truth.json (see bench/attribute_rings.py for the plans).

Layout under OUT: ``aws/`` (CloudTrail S3 layout), ``azure/`` (diagnostics export), ``gateway/``
(LiteLLM SpendLogs), ``openai/`` (audit log), ``public-code/<repo>/`` (one git repository per leak,
the key committed at its leak time), ``asn.mmdb`` and ``truth.json``. Same seed, same bytes (but
the build time inside asn.mmdb).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from attribute_rings_crews import Crew, CrewSpec, Stolen, admin_actor, steal
from attribute_rings_world import (
    DAY,
    START,
    VPN_ASN,
    AddressPlan,
    LegitOrg,
    Writer,
    build_legit,
    legit_traffic,
)
from ringbreaker._git import write as git
from ringbreaker.simulate.timefmt import iso
from ringbreaker.simulate.world import Key


def _leak_text(key: Key, org: LegitOrg, rng: random.Random) -> tuple[str, str]:
    """(path, content) of a file that leaks ``key`` as developers do."""
    o = org.org
    if key.provider == "aws":
        if rng.random() < 0.5:
            return ".env", (
                f"AWS_ACCESS_KEY_ID={key.secret}\nAWS_SECRET_ACCESS_KEY={key.companion}\n"
                f"AWS_REGION={o.region}\nBEDROCK_MODEL=anthropic.claude-3-haiku-20240307-v1:0\n"
            )
        return "llm/bedrock.py", (
            "import boto3\n\n"
            f'client = boto3.client("bedrock-runtime", region_name="{o.region}",\n'
            f'    aws_access_key_id="{key.secret}",\n    aws_secret_access_key="{key.companion}")\n'
        )
    if key.provider == "azure":
        return "app/chat.py", (
            "from openai import AzureOpenAI\n\nclient = AzureOpenAI(\n"
            f'    azure_endpoint="https://{o.account_name}.openai.azure.com/",\n'
            f'    api_key="{key.secret}",\n    api_version="2024-06-01",\n)\n'
        )
    return "scripts/rotate_keys.py", f'import requests\n\nOPENAI_ADMIN_KEY = "{key.secret}"\n'


def leak_repo(root: Path, name: str, key: Key, org: LegitOrg, t: int, rng: random.Random) -> None:
    """A developer's public repository: a scaffold a day earlier, then the commit that leaks ``key``."""
    repo = root / name
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text(f"# {name}\n\nSet your credentials in the environment before running.\n")
    who = f"{rng.choice(['Dana', 'Lee', 'Sam', 'Ari'])} Dev <dev@{org.org.domain}>"
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "scaffold", date=iso(t - DAY), author=who)
    path, text = _leak_text(key, org, rng)
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "working client", date=iso(t), author=who)


def write_mmdb(path: Path, cidrs: list[tuple[str, int, str]]) -> None:
    """The address plan as a GeoLite2-ASN database maps real networks (mmdb_writer, a dev extra)."""
    import mmdb_writer
    from netaddr import IPSet

    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", int_type="u32")
    by_asn: dict[tuple[int, str], list[str]] = defaultdict(list)
    for cidr, asn, org in cidrs:
        by_asn[(asn, org)].append(cidr)
    for (asn, org), nets in sorted(by_asn.items()):
        w.insert_network(
            IPSet(nets), {"autonomous_system_number": asn, "autonomous_system_organization": org}
        )
    w.to_db_file(str(path))


def _usage(u: Any) -> dict[str, Any]:
    return {"first": iso(u.first), "last": iso(u.last), "events": u.events, "formats": sorted(u.formats)}


def _key_entry(s: Stolen, leak_repo_name: str | None) -> dict[str, Any]:
    k = s.key
    return {
        "fingerprint": k.fingerprint,
        "provider": k.provider,
        "key_id": k.key_id,
        "victim": s.victim.org.id,
        "leak_time": iso(s.leak) if s.leak else None,
        "leak_repo": leak_repo_name,
        "first_check": iso(s.got),
        "revoked": iso(s.revoked) if s.revoked else None,
    }


def generate(
    out: Path,
    seed: int,
    specs: list[CrewSpec],
    *,
    admin: bool,
    shared_victims: int = 0,
    scale: float = 1.0,
    days: int = 5,
) -> dict[str, Any]:
    """Write the world of ``seed`` with crews ``specs`` under ``out``; returns the truth it wrote.

    Victims are organisations no earlier crew robbed, except that the 2nd .. (1 + ``shared_victims``)th
    crews each take one victim of an earlier crew (another of its keys): one organisation robbed by
    two unrelated crews, whose own offices then use keys of both."""
    out.mkdir(parents=True, exist_ok=False)
    rng = random.Random(f"attribute-rings-{seed}")
    t0, t1 = START, START + days * DAY
    plan = AddressPlan(rng)
    vpn_users = [s for s in specs if s.vpn_share > 0]
    vpn = (
        (plan.hosts(VPN_ASN[0], rng.randint(3, 5)) + plan.hosts(VPN_ASN[0], rng.randint(2, 4)))
        if vpn_users
        else []
    )
    n_aws = max(8, round(18 * min(1.0, scale * 2)))
    orgs, oa = build_legit(plan, rng, n_aws, 4, 3, vpn)
    for o in orgs:
        for app in o.apps:
            app.rate *= scale
    w = Writer(out, seed, rng)
    aws = [o for o in orgs if o.org.kind == "aws"]
    azure = [o for o in orgs if o.org.kind == "azure"]
    gws = [o for o in orgs if o.org.kind == "litellm"]
    crews: list[Crew] = []
    robbed: set[str] = set()
    for spec in specs:
        spec.rate *= scale
        spec.pool = max(50, int(spec.pool * scale))
        c = Crew(spec, plan, rng, t0, t1, vpn if spec.vpn_share else [])
        fresh = [o for o in aws if o.org.id not in robbed]
        again = 1 if 1 <= len(crews) <= shared_victims and robbed and spec.victims >= 2 else 0
        if len(fresh) < spec.victims - again:
            fresh = aws
        victims = rng.sample(fresh, spec.victims - again)
        victims += rng.sample([o for o in aws if o.org.id in robbed], again)
        robbed.update(o.org.id for o in victims)
        victims += rng.sample(azure, min(spec.azure_keys, len(azure)))
        if spec.gateway_key:
            victims.append(rng.choice(gws))
        steal(c, victims, rng, t0, t1, revoke_p=0.0 if spec.keys == 1 else 0.25)
        crews.append(c)
    admin_key: tuple[Key, int] | None = admin_actor(w, oa, rng, t0, t1) if admin and oa is not None else None
    unabused = [a.key for o in rng.sample(aws, 3) for a in o.apps[:1] if a.key.crew is None]
    legit_traffic(w, orgs, oa, t0, t1)
    for c in crews:
        c.run(w)
    w.sink.close()

    code = out / "public-code"
    leaks: dict[str, str] = {}
    org_of = {k.fingerprint: o for o in [*orgs, *([oa] if oa else [])] for k in o.org.keys}
    todo: list[tuple[Key, int]] = [(s.key, s.leak) for c in crews for s in [*c.stolen, *c.azure]]
    todo += [(k, t0 + rng.randrange(DAY, 3 * DAY)) for k in unabused]
    if admin_key:
        todo.append(admin_key)
    for i, (key, t) in enumerate(sorted(todo, key=lambda x: (x[1], x[0].fingerprint))):
        kind = ["tools", "bot", "infra", "demo", "lab"][i % 5]
        name = f"{org_of[key.fingerprint].org.name.lower()}-{kind}-{i}"
        leak_repo(code, name, key, org_of[key.fingerprint], t, rng)
        leaks[key.fingerprint] = name
    write_mmdb(out / "asn.mmdb", plan.cidrs)

    truth = _truth(
        seed, specs, crews, orgs, oa, w, leaks, admin_key, {k.fingerprint for k in unabused}, vpn, t0, t1
    )
    truth["networks"] = [{"cidr": c, "asn": a, "org": o} for c, a, o in plan.cidrs]
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    return truth


def _truth(
    seed: int,
    specs: list[CrewSpec],
    crews: list[Crew],
    orgs: list[LegitOrg],
    oa: LegitOrg | None,
    w: Writer,
    leaks: dict[str, str],
    admin_key: tuple[Key, int] | None,
    unabused: set[str],
    vpn: list[str],
    t0: int,
    t1: int,
) -> dict[str, Any]:
    """truth.json: crews (keys, addresses with roles, user agents), the legitimate world, sharing."""
    users: dict[str, set[str]] = defaultdict(set)  # ip -> actors
    for actor, ips in w.ips.items():
        for ip in ips:
            users[ip].add(actor)
    crew_names = {c.spec.name for c in crews} | {"admin-key"}
    out_crews = []
    for c in crews:
        name = c.spec.name
        addrs = []
        for ip, u in sorted(w.ips[name].items()):
            role = "egress" if ip in vpn else u.role
            addrs.append({"ip": ip, "role": role, "shared": len(users[ip]) > 1, **_usage(u)})
        keys = [_key_entry(s, leaks.get(s.key.fingerprint)) for s in [*c.stolen, *c.azure]]
        if c.gw is not None:
            keys.append(_key_entry(c.gw, None))
        keys = [k for k in keys if k["fingerprint"] in w.keys[name]]
        for k in keys:
            u = w.keys[name][k["fingerprint"]]
            k.update(first_abuse=iso(u.first), last_abuse=iso(u.last), events=u.events)
        uas = [{"value": ua, **_usage(u)} for ua, u in sorted(w.uas[name].items())]
        times = [u.first for u in w.ips[name].values()] + [u.last for u in w.ips[name].values()]
        spec = next(s for s in specs if s.name == name)
        out_crews.append(
            {
                "name": name,
                "spec": {k: v for k, v in vars(spec).items()},
                "keys": keys,
                "addresses": addrs,
                "user_agents": uas,
                "first": iso(min(times)),
                "last": iso(max(times)),
            }
        )
    if admin_key is not None:
        key, leak = admin_key
        u = w.keys["admin-key"][key.fingerprint]
        out_crews.append(
            {
                "name": "admin-key",
                "spec": {"name": "admin-key", "egress": "none"},
                "keys": [
                    {
                        "fingerprint": key.fingerprint,
                        "provider": "openai",
                        "key_id": key.key_id,
                        "victim": key.owner,
                        "leak_time": iso(leak),
                        "leak_repo": leaks.get(key.fingerprint),
                        "first_check": None,
                        "revoked": None,
                        "first_abuse": iso(u.first),
                        "last_abuse": iso(u.last),
                        "events": u.events,
                    }
                ],
                "addresses": [],
                "user_agents": [],
                "first": iso(u.first),
                "last": iso(u.last),
            }
        )
    legit_keys, legit_addrs, legit_uas = [], [], set()
    for o in [*orgs, *([oa] if oa else [])]:
        for k in o.org.keys:
            if k.crew is None:
                legit_keys.append(
                    {
                        "fingerprint": k.fingerprint,
                        "provider": k.provider,
                        "key_id": k.key_id,
                        "owner": o.org.id,
                        "leaked": k.fingerprint in unabused,
                        "leak_repo": leaks.get(k.fingerprint),
                    }
                )
        for ip, u in sorted(w.ips[o.org.id].items()):
            legit_addrs.append(
                {
                    "ip": ip,
                    "org": o.org.id,
                    "kind": o.addresses.get(ip, u.role),
                    "shared_with_crews": sorted(users[ip] & crew_names),
                    **_usage(u),
                }
            )
        legit_uas |= set(w.uas[o.org.id])
    shared = []
    for ip, actors in sorted(users.items()):
        cs = sorted(actors & crew_names)
        if len(actors) > 1 and cs:
            shared.append(
                {
                    "ip": ip,
                    "kind": "vpn-exit" if ip in vpn else "other",
                    "crews": cs,
                    "legit": sorted(actors - crew_names),
                }
            )
    victims_keys = {k["fingerprint"] for c in out_crews for k in c["keys"]}
    return {
        "seed": seed,
        "start": iso(t0),
        "end": iso(t1),
        "fingerprint": "SHA-256 hex of the key text as scan stores it; AWS: of the access key id",
        "crews": out_crews,
        "legit": {
            "orgs": [
                {"id": o.org.id, "kind": o.org.kind, "tz": o.tz, "addresses": o.addresses} for o in orgs
            ],
            "keys": legit_keys,
            "addresses": legit_addrs,
            "user_agents": sorted(legit_uas),
        },
        "victim_keys_also_used_by_owner": sorted(
            victims_keys & {fp for o in orgs for fp in w.keys[o.org.id]}
        ),
        "shared": shared,
        "vpn_exits": vpn,
    }
