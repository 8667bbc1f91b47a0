"""Offline IP enrichment from MaxMind-format databases (GeoLite2/GeoIP2 ASN, Country, City,
Anonymous IP, or any database with the same record fields). Lookups are cached per distinct address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ringbreaker.errors import InputError

Info = tuple[int | None, str | None, str | None, str | None]  # asn, org, country, anonymizer

# GeoIP2 Anonymous IP flags, most telling first: the class an address gets (events.src_anonymizer)
ANONYMIZER_FLAGS = (
    ("is_tor_exit_node", "tor"),
    ("is_anonymous_vpn", "anonymous-vpn"),
    ("is_residential_proxy", "proxy"),
    ("is_public_proxy", "proxy"),
    ("is_hosting_provider", "hosting"),
)


def anonymizer(rec: dict[str, Any]) -> str | None:
    """The class of an Anonymous IP record (tor, anonymous-vpn, proxy, hosting), or None."""
    return next((name for flag, name in ANONYMIZER_FLAGS if rec.get(flag) is True), None)


class GeoIP:
    """One or more .mmdb readers; the first database that knows a field wins."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        import maxminddb

        self._readers: list[Any] = []
        for p in paths:
            try:
                self._readers.append(maxminddb.open_database(str(p)))
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
                raise InputError(f"not a readable MaxMind database: {e}", source=str(p)) from e
        self._cache: dict[str, Info] = {}

    def lookup(self, ip: str) -> Info:
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        asn: int | None = None
        org: str | None = None
        country: str | None = None
        anon: str | None = None
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:  # masked (81.2.69.***), a hostname (AWS service principals) or empty
            addr = None
        if addr is not None:
            for reader in self._readers:
                rec = reader.get(addr)
                if not isinstance(rec, dict):
                    continue
                if asn is None and isinstance(rec.get("autonomous_system_number"), int):
                    asn = rec["autonomous_system_number"]
                if org is None and isinstance(rec.get("autonomous_system_organization"), str):
                    org = rec["autonomous_system_organization"]
                if country is None:
                    c = rec.get("country") or rec.get("registered_country")
                    if isinstance(c, dict) and isinstance(c.get("iso_code"), str):
                        country = c["iso_code"]
                if anon is None:
                    anon = anonymizer(rec)
        info = (asn, org, country, anon)
        if len(self._cache) < 1_000_000:
            self._cache[ip] = info
        return info

    def enrich(self, table: pa.Table) -> pa.Table:
        """Fill src_asn, src_org, src_country, src_anonymizer from src_ip (one lookup per address)."""
        ips = table.column("src_ip")
        distinct = pc.unique(ips).drop_null()
        if len(distinct) == 0:
            return table
        infos = [self.lookup(ip) for ip in distinct.to_pylist()]
        idx = pc.index_in(ips, value_set=distinct)
        asn = pa.array([i[0] for i in infos], pa.int32()).take(idx)
        org = pa.array([i[1] for i in infos], pa.string()).take(idx)
        country = pa.array([i[2] for i in infos], pa.string()).take(idx)
        anon = pa.array([i[3] for i in infos], pa.string()).take(idx)
        names = table.schema.names
        table = table.set_column(names.index("src_anonymizer"), "src_anonymizer", anon)
        table = table.set_column(names.index("src_asn"), "src_asn", asn)
        table = table.set_column(names.index("src_org"), "src_org", org)
        return table.set_column(names.index("src_country"), "src_country", country)

    def close(self) -> None:
        for r in self._readers:
            r.close()
