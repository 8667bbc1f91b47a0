"""case.stix.json: the case as a STIX 2.1 bundle for threat-intelligence platforms.

Mapping (docs/case.md has the table):
- the crew -> ``intrusion-set``; each person, account and customer -> ``threat-actor`` with a role from
  the open vocabulary (creator: malware-author + infrastructure-architect; provider:
  infrastructure-operator; user: agent) and a ``ringbreaker-role:*`` label; ``attributed-to`` links;
- its proxies -> ``infrastructure`` (anonymization) that ``consists-of`` ``ipv4-addr`` and
  ``domain-name`` objects; tools -> ``tool``; the crew ``uses`` both;
- IPs, hosts and user agents -> ``indicator`` with STIX patterns, ``indicates`` the intrusion set;
- victims -> ``identity`` the intrusion set ``targets``;
- each stolen key -> a custom ``x-ringbreaker-api-key`` observable holding only the fingerprint,
  declared by an ``extension-definition`` (STIX has no API-key object), seen in ``observed-data``
  with the addresses that used it; ``sighting`` objects tie the IP indicators to that telemetry;
- chain of custody: each source file the listed evidence came from -> a ``file`` observable with its
  SHA-256 (``hashes``), in the key's ``observed-data`` ``object_refs``, which also carries
  ``x_ringbreaker_evidence``: each of the key's listed events with its file, position and hash
  (``ringbreaker show EVENT_ID`` reads the record back and verifies it).

Ids are derived from stable names (see ``sid``), so the same crew yields the same ids on every run
and platforms de-duplicate re-imports. Values that are not what STIX requires (a proxy host that is
no DNS name, a masked address) are left out of observables and indicators rather than making the
bundle invalid.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import stix2

from ringbreaker.model import Case, Role

NS = uuid.UUID("6f3c3f2e-5b8e-4c52-9a53-7d7f0f0f2b11")  # ringbreaker's STIX id namespace
API_KEY_TYPE = "x-ringbreaker-api-key"
ROLE_VOCAB: dict[str, list[str]] = {  # keyed by Role, looked up by the case's role names
    Role.CREATOR: ["malware-author", "infrastructure-architect"],
    Role.PROVIDER: ["infrastructure-operator"],
    Role.USER: ["agent"],
}


def sid(kind: str, *names: str) -> str:
    """A deterministic STIX id for ``kind`` from stable names.

    Shaped as a UUIDv4 (random bits from a SHA-256 of the names) because STIX 2.1 asks for v4 ids on
    domain and relationship objects and validators flag v5 ones; being derived, it is stable per crew.
    """
    digest = hashlib.sha256("|".join((str(NS), kind, *names)).encode()).digest()
    return f"{kind}--{uuid.UUID(bytes=digest[:16], version=4)}"


def pattern_str(value: str) -> str:
    """A STIX pattern string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ip_value(ip: str) -> str | None:
    """A valid ipv4-addr value: the address, or the /24 of a masked one (a.b.c.***); None otherwise."""
    parts = ip.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts[:3]):
        return None
    if parts[3].isdigit() and int(parts[3]) < 256:
        return ip
    if set(parts[3]) == {"*"}:
        return ".".join(parts[:3]) + ".0/24"
    return None


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _hostname(value: str) -> bool:
    """A syntactically valid DNS name (log fields may hold anything; STIX requires real names)."""
    labels = value.rstrip(".").split(".")
    return len(value) <= 253 and len(labels) >= 2 and all(_LABEL.fullmatch(x) for x in labels)


def build_bundle(case: Case) -> str:
    """Serialise the case as a STIX 2.1 bundle (pretty JSON text)."""
    crew = case["crew"]
    cid = crew["id"]
    now = case["generated_at"]
    first = crew["first_time"] or now
    last = crew["last_time"] or first
    common = {"created": now, "modified": now}
    author = stix2.Identity(
        id=sid("identity", "ringbreaker"), name="ringbreaker", identity_class="system", **common
    )
    by = {"created_by_ref": author.id, **common}
    ext = stix2.ExtensionDefinition(
        id=sid("extension-definition", API_KEY_TYPE),
        name="ringbreaker API key",
        description="A credential for a paid API, identified only by the SHA-256 fingerprint of the key "
        "string "
        "(for AWS, of the access key id). The key itself is never included.",
        schema="https://github.com/ringbreaker/ringbreaker/blob/main/docs/case.md#stix",
        version="1.0.0",
        extension_types=["new-sco"],
        **by,
    )
    custody_ext = stix2.ExtensionDefinition(
        id=sid("extension-definition", "x_ringbreaker_evidence"),
        name="ringbreaker evidence citations",
        description="x_ringbreaker_evidence on observed-data: the events behind it, each with its source "
        "file, its position there and the file's SHA-256 as ingested (chain of custody).",
        schema="https://github.com/ringbreaker/ringbreaker/blob/main/docs/case.md#stix",
        version="1.0.0",
        extension_types=["toplevel-property-extension"],
        extension_properties=["x_ringbreaker_evidence"],
        **by,
    )
    objs: list[Any] = [author, ext, custody_ext]
    iset = stix2.IntrusionSet(
        id=sid("intrusion-set", cid),
        name=crew["name"],
        description=crew["summary"],
        aliases=[cid],
        first_seen=first,
        last_seen=last,
        **by,
    )
    objs.append(iset)

    def rel(src: str, kind: str, dst: str, description: str | None = None) -> None:
        kw = {"description": description} if description else {}
        objs.append(
            stix2.Relationship(
                id=sid("relationship", src, kind, dst),
                source_ref=src,
                relationship_type=kind,
                target_ref=dst,
                **kw,
                **by,
            )
        )

    # People, accounts and customers.
    for role, members in case["members"].items():
        for m in members:
            if m["kind"] not in ("person", "account", "end_user"):
                continue
            ta = stix2.ThreatActor(
                id=sid("threat-actor", cid, m["kind"], m["entity"]),
                name=m["entity"],
                description=m["evidence"],
                threat_actor_types=["criminal"],
                roles=ROLE_VOCAB.get(role, []),
                labels=[f"ringbreaker-role:{role}", f"ringbreaker-kind:{m['kind']}"],
                confidence=round(float(m["confidence"]) * 100),
                **by,
            )
            objs.append(ta)
            rel(iset.id, "attributed-to", ta.id, m["evidence"])

    # Infrastructure: one anonymization network per crew, made of its addresses and proxy hosts.
    infra = stix2.Infrastructure(
        id=sid("infrastructure", cid, "proxy-network"),
        name=f"{crew['name']} proxy network",
        infrastructure_types=["anonymization"],
        description="Reverse proxies that pool stolen keys and serve the crew's customers.",
        first_seen=first,
        last_seen=last,
        **by,
    )
    objs.append(infra)
    rel(iset.id, "uses", infra.id)
    ip_scos: dict[str, str] = {}
    for n in case["infrastructure"]["nodes"]:
        if n["kind"] == "ip":
            value = _ip_value(n["label"])
            if value is None:
                continue
            sco = stix2.IPv4Address(value=value)
            ip_scos[n["id"]] = sco.id
            objs.append(sco)
            rel(infra.id, "consists-of", sco.id)
        elif n["kind"] == "proxy_host" and _hostname(n["label"]):
            sco = stix2.DomainName(value=n["label"])
            objs.append(sco)
            rel(infra.id, "consists-of", sco.id)
    members = [m for ms in case["members"].values() for m in ms]
    for m in members:
        if m["kind"] == "tool" and "/" not in m["entity"]:
            tool = stix2.Tool(
                id=sid("tool", cid, m["entity"]), name=m["entity"], description=m["evidence"], **by
            )
            objs.append(tool)
            rel(iset.id, "uses", tool.id)

    # Indicators with patterns.
    indicators: dict[str, str] = {}
    for m in members:
        if m.get("infra_role") == "shared":
            continue  # an exit other crews used too (a VPN, Tor): not an indicator of this one
        if m["kind"] == "ip" and _ip_value(m["entity"]) == m["entity"]:
            pattern, name = (
                f"[ipv4-addr:value = {pattern_str(m['entity'])}]",
                f"Crew proxy address {m['entity']}",
            )
        elif m["kind"] == "proxy_host" and _hostname(m["entity"]):
            pattern, name = (
                f"[domain-name:value = {pattern_str(m['entity'])}]",
                f"Crew proxy host {m['entity']}",
            )
        elif m["kind"] in ("tool", "user_agent") and "/" in m["entity"]:
            pattern = (
                "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = "
                f"{pattern_str(m['entity'])}]"
            )
            name = f"Crew software {m['entity']}"
        else:
            continue
        ind = stix2.Indicator(
            id=sid("indicator", cid, m["kind"], m["entity"]),
            name=name,
            description=m["evidence"],
            indicator_types=["malicious-activity"],
            pattern=pattern,
            pattern_type="stix",
            valid_from=first,
            **by,
        )
        objs.append(ind)
        indicators[f"ip:{m['entity']}" if m["kind"] == "ip" else m["entity"]] = ind.id
        rel(ind.id, "indicates", iset.id)

    # Victims and their keys, and the telemetry that saw the keys used.
    victims: dict[str, str] = {}
    edges = case["infrastructure"]["edges"]
    observed_by_ip: dict[str, list[str]] = {}
    seen_files: dict[str, str] = {}  # source_sha256 -> its file SCO id, one per evidence file
    for k in case["keys"]:
        if k["victim"] and k["victim"] not in victims:
            ident = stix2.Identity(
                id=sid("identity", "victim", str(k["victim"])),
                name=str(k["victim"]),
                identity_class="organization",
                description="Owner of a stolen key",
                **by,
            )
            objs.append(ident)
            victims[k["victim"]] = ident.id
            rel(iset.id, "targets", ident.id)
        key_obj = {
            "type": API_KEY_TYPE,
            "spec_version": "2.1",
            "id": sid(API_KEY_TYPE, k["fingerprint"]),
            "fingerprint": k["fingerprint"],
            "extensions": {ext.id: {"extension_type": "new-sco"}},
        }
        objs.append(key_obj)
        used_from = [
            ip_scos[e["target"]]
            for e in edges
            if e["source"] == f"key:{k['fingerprint']}" and e["target"] in ip_scos
        ]
        start = k["first_abuse"] or first
        cited = [e for e in case["evidence"]["events"] if e.get("key_fingerprint") == k["fingerprint"]]
        files = _files(cited, objs, seen_files)
        custody: dict[str, Any] = {}
        if cited:
            custody = {
                "x_ringbreaker_evidence": [_citation(e) for e in cited],
                "extensions": {custody_ext.id: {"extension_type": "toplevel-property-extension"}},
            }
        od = stix2.ObservedData(
            id=sid("observed-data", cid, k["fingerprint"]),
            first_observed=start,
            last_observed=max(start, last),
            number_observed=max(1, int(k["events"] or 0)),
            object_refs=[key_obj["id"], *used_from, *files],
            **by,
            **custody,
            allow_custom=True,
        )
        objs.append(od)
        for e in edges:
            if e["source"] == f"key:{k['fingerprint']}":
                observed_by_ip.setdefault(e["target"], []).append(od.id)
    for node_id, ods in sorted(observed_by_ip.items()):
        ind_id = indicators.get(node_id)
        if not ind_id:
            continue
        n = next((x for x in case["infrastructure"]["nodes"] if x["id"] == node_id), None)
        objs.append(
            stix2.Sighting(
                id=sid("sighting", cid, node_id),
                sighting_of_ref=ind_id,
                observed_data_refs=sorted(set(ods)),
                where_sighted_refs=sorted(set(victims.values())) or None,
                count=max(1, int(n["events"])) if n else 1,
                first_seen=first,
                last_seen=last,
                **by,
            )
        )
    bundle = stix2.Bundle(objects=objs, id=sid("bundle", cid, now), allow_custom=True)
    return str(bundle.serialize(pretty=True))


def _citation(e: dict[str, Any]) -> dict[str, Any]:
    """One evidence event's chain-of-custody entry (the fields of detect's ``evidence_refs``)."""
    return {
        "event_id": e["id"],
        "source_file": e.get("source_file"),
        "source_offset": e.get("source_offset"),
        "source_sha256": e.get("source_sha256"),
    }


def _files(events: list[dict[str, Any]], objs: list[Any], seen: dict[str, str]) -> list[str]:
    """The ``file`` SCO ids (SHA-256 hashes, the name as ingest read it) of these events' source
    files, each added to the bundle once; events stored before evidence was kept have none."""
    out: list[str] = []
    for e in events:
        sha = e.get("source_sha256")
        if not sha:
            continue
        if sha not in seen:
            name = str(e.get("source_file") or "").rsplit("/", 1)[-1] or sha
            f = stix2.File(hashes={"SHA-256": sha}, name=name)
            seen[sha] = f.id
            objs.append(f)
        if seen[sha] not in out:
            out.append(seen[sha])
    return out
