"""Per-run context tables: who and where each event's caller is, for rules to set severity by.

Rules are SQL, and SQL is poor at CIDR matching and globs (DuckDB's inet extension is not bundled
and Spark has none), so before the rules run detect derives small TEMP tables, once per distinct
value, from the events and the owner's stored context (workspace/context.py):

``ip_context(src_ip, net_kind, net_name, internal, rented)``
    ``net_kind``: the owner's own kind when a context network holds the address (office, ci, vpn,
    datacenter, partner; the most specific network wins); ``aws-service`` for the service names
    CloudTrail puts in sourceIPAddress (``bedrock.amazonaws.com``, ``AWS Internal``); ``private``
    (RFC 1918, loopback, link-local, CGNAT, IPv6 ULA: a VPC endpoint or the owner's NAT);
    ``tor``, ``anonymous-vpn``, ``proxy`` (public or residential) or ``hosting`` when ingest's
    ``--geoip`` GeoIP2 Anonymous IP database says so (events.src_anonymizer); ``hosting`` when the
    ``--geoip`` ASN is a cloud/hosting/VPN network (hosting_asns.txt); else ``public``.
    ``internal`` is true for the owner's kinds, ``aws-service`` and ``private``; ``rented`` for
    ``hosting``, ``tor``, ``anonymous-vpn`` and ``proxy`` (infrastructure anyone can rent or share,
    not a person's own line): rules raise these as one class.
``principal_context(actor, principal_kind, principal_name)``
    actors matching a context principal glob (iac, admin, service, ci); first match wins. An
    assumed-role session ARN also matches through its role's IAM ARN.
``account_owner(account, owner)``
    every account with its owner (itself when the context names none): one owner, one victim.
``expected_models(subject, model)``
    (actor or key fingerprint, model) pairs the context says are expected.

The tables live on the connection only (TEMP): a dry run writes nothing, and the Spark engine can
build the same rows from the same functions.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import pyarrow as pa

from ringbreaker.workspace.context import Context, read_context

if TYPE_CHECKING:
    import duckdb

__all__ = ["context_tables", "hosting_asns", "net_kind", "prepare"]

_SPECIAL = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
]


@cache
def hosting_asns() -> frozenset[int]:
    """ASNs of cloud, hosting and commercial VPN networks (hosting_asns.txt: ``asn name`` lines)."""
    text = resources.files("ringbreaker.detect").joinpath("hosting_asns.txt").read_text(encoding="utf-8")
    return frozenset(
        int(line.split()[0]) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


class _Networks:
    """The owner's networks by prefix length, so each address is a few dict look-ups."""

    def __init__(self, ctx: Context) -> None:
        self.by_len: dict[tuple[int, int], dict[int, tuple[str, str | None]]] = {}
        for cidr, kind, name in ctx.networks:
            net = ipaddress.ip_network(cidr, strict=False)
            self.by_len.setdefault((net.version, net.prefixlen), {})[int(net.network_address)] = (kind, name)
        self.order = sorted(self.by_len, key=lambda k: -k[1])  # most specific first

    def find(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str, str | None] | None:
        bits = 32 if ip.version == 4 else 128
        n = int(ip)
        for version, plen in self.order:
            if version != ip.version:
                continue
            hit = self.by_len[(version, plen)].get(n >> (bits - plen) << (bits - plen))
            if hit is not None:
                return hit
        return None


def net_kind(
    src_ip: str, asn: int | None, networks: _Networks | None = None, anonymizer: str | None = None
) -> tuple[str, str | None]:
    """(kind, name) of one source address; see the module docstring for the kinds."""
    text = src_ip.strip().split("%")[0]
    if text.count(".") == 3 and text.replace(".", "").isdigit():  # 035.249.253.232: zero-padded octets
        text = ".".join(str(int(o)) for o in text.split("."))
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        low = src_ip.lower()
        if low.endswith(".amazonaws.com") or low == "aws internal":
            return "aws-service", src_ip
        return "service", src_ip
    if networks is not None:
        hit = networks.find(ip)
        if hit is not None:
            return hit
    if any(ip in n for n in _SPECIAL if n.version == ip.version):
        return "private", None
    if anonymizer is not None:  # tor, anonymous-vpn, proxy, hosting (ingest --geoip, Anonymous IP)
        return anonymizer, None
    if asn is not None and asn in hosting_asns():
        return "hosting", None
    return "public", None


INTERNAL = frozenset({"office", "ci", "vpn", "datacenter", "partner", "aws-service", "private"})
RENTED = frozenset({"hosting", "tor", "anonymous-vpn", "proxy"})


def prepare(con: duckdb.DuckDBPyConnection, ctx: Context | None = None) -> Context:
    """(Re)build the per-run context tables on ``con``; return the context they came from."""
    ctx = read_context(con) if ctx is None else ctx
    ips = con.execute(
        "SELECT src_ip, min(src_asn), min(src_anonymizer) FROM events WHERE src_ip IS NOT NULL "
        "GROUP BY src_ip"
    ).fetchall()
    actors = [
        r[0] for r in con.execute("SELECT DISTINCT actor FROM events WHERE actor IS NOT NULL").fetchall()
    ]
    accounts = [
        r[0] for r in con.execute("SELECT DISTINCT account FROM events WHERE account IS NOT NULL").fetchall()
    ]
    uses: list[tuple[str | None, str | None, str]] = []
    if ctx.models:
        uses = con.execute(
            "SELECT DISTINCT actor, key_fingerprint, model FROM events WHERE model IS NOT NULL"
        ).fetchall()
    for name, table in context_tables(ctx, ips, actors, accounts, uses).items():
        view = f"_rb_{name}_arrow"
        con.register(view, table)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            con.unregister(view)
    return ctx


def context_tables(
    ctx: Context,
    ips: Sequence[tuple[str, int | None, str | None]],
    actors: Sequence[str],
    accounts: Sequence[str],
    uses: Sequence[tuple[str | None, str | None, str]],
) -> dict[str, pa.Table]:
    """The four context tables (see the module) from the distinct values the events hold:
    ``ips`` (src_ip, an ASN, the anonymizer kind), ``actors``, ``accounts`` and ``uses`` (actor, key
    fingerprint, model; needed only when the context names expected models). Engine-neutral: DuckDB
    and Spark each gather the values and register the same tables."""
    nets = _Networks(ctx) if ctx.networks else None
    kinds = [net_kind(ip, asn, nets, anon) for ip, asn, anon in ips]
    text, flag = pa.string(), pa.bool_()
    tables = {
        "ip_context": _arrow(
            {
                "src_ip": ([row[0] for row in ips], text),
                "net_kind": ([k for k, _ in kinds], text),
                "net_name": ([n for _, n in kinds], text),
                "internal": ([k in INTERNAL for k, _ in kinds], flag),
                "rented": ([k in RENTED for k, _ in kinds], flag),
            }
        )
    }
    matched = []
    for a in actors:
        names = [a, *_role_of(a)]
        for pattern, kind, name in ctx.principals:
            if any(fnmatch.fnmatchcase(n, pattern) for n in names):
                matched.append((a, kind, name))
                break
    tables["principal_context"] = _arrow(
        {
            "actor": ([m[0] for m in matched], text),
            "principal_kind": ([m[1] for m in matched], text),
            "principal_name": ([m[2] for m in matched], text),
        }
    )
    owners = dict(ctx.accounts)
    tables["account_owner"] = _arrow(
        {"account": (list(accounts), text), "owner": ([owners.get(a, a) for a in accounts], text)}
    )
    pairs: list[tuple[str, str]] = []
    for actor, fp, model in uses if ctx.models else ():
        for subject in (actor, fp):
            if subject and any(
                (fnmatch.fnmatchcase(subject, p) or subject == p) and fnmatch.fnmatchcase(model, m)
                for p, m in ctx.models
            ):
                pairs.append((subject, model))
    pairs = sorted(set(pairs))
    tables["expected_models"] = _arrow(
        {"subject": ([p[0] for p in pairs], text), "model": ([p[1] for p in pairs], text)}
    )
    return tables


_ASSUMED = re.compile(r"^arn:(aws[a-z-]*):sts::(\d+):assumed-role/([^/]+)/")


def _role_of(actor: str) -> list[str]:
    """The IAM role ARN behind an assumed-role session ARN (what owners write in a context file:
    ``arn:aws:iam::*:role/terraform-*`` should match ``arn:aws:sts::1:assumed-role/terraform-apply/s``)."""
    m = _ASSUMED.match(actor)
    return [f"arn:{m[1]}:iam::{m[2]}:role/{m[3]}"] if m else []


def _arrow(columns: dict[str, tuple[list[object], pa.DataType]]) -> pa.Table:
    return pa.table({c: pa.array(v, type=t) for c, (v, t) in columns.items()})
