"""Offline IP enrichment from a MaxMind-format database written here, and the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from ringbreaker.cli.ingest import ingest as ingest_cmd
from ringbreaker.ingest import IngestConfig, ingest
from tests.ingest.conftest import DATA, rows


def _mmdb(path: Path) -> Path:
    mmdb_writer = pytest.importorskip("mmdb_writer")
    from netaddr import IPSet

    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-ASN-test", int_type="u32")
    w.insert_network(
        IPSet(["203.0.113.0/24"]),
        {
            "autonomous_system_number": 64500,
            "autonomous_system_organization": "Example Hosting",
            "country": {"iso_code": "NL"},
        },
    )
    w.to_db_file(str(path))
    return path


def test_geoip_enrichment(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    db = _mmdb(tmp_path / "asn.mmdb")
    ingest(ws, [DATA / "cloudtrail.ndjson", DATA / "azure-diagnostics.json"], IngestConfig(geoip=(str(db),)))
    got = rows(
        ws, "SELECT DISTINCT src_ip, src_asn, src_org, src_country FROM events ORDER BY src_ip NULLS LAST"
    )
    assert got == [
        ("203.0.113.10", 64500, "Example Hosting", "NL"),
        ("81.2.69.***", None, None, None),  # masked address: kept, not looked up
        (None, None, None, None),
    ]


def _run(args: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(ingest_cmd, args, input=stdin)
    return res.exit_code, res.stdout, res.stderr


def test_cli_summary_exit_codes_and_json(tmp_path: Path) -> None:
    wsp = str(tmp_path / "w.duckdb")
    code, out, err = _run([str(DATA / "cloudtrail.ndjson"), "--workspace", wsp, "--format", "json"])
    assert code == 0, err
    assert "cloudtrail (plain, ndjson" in err
    summary = json.loads(out)
    assert summary["totals"]["stored"] == 3
    assert summary["files"][0]["format"] == "cloudtrail"

    code, _, err = _run([str(DATA / "cloudtrail.ndjson"), "--workspace", wsp])
    assert code == 0
    assert "skipped (unchanged since last ingest)" in err

    bad = tmp_path / "bad.jsonl"
    bad.write_text((DATA / "cloudtrail.ndjson").read_text() + "{not json\n")
    code, _, err = _run([str(bad), "--workspace", wsp, "-q"])
    assert (code, err) == (1, "")

    code, _, err = _run([str(tmp_path / "missing.json"), "--workspace", wsp])
    assert code == 2
    assert "missing.json" in err


def test_cli_stdin_and_glob(tmp_path: Path) -> None:
    wsp = str(tmp_path / "w.duckdb")
    data = (DATA / "litellm-spendlogs.jsonl").read_bytes()
    code, _, err = _run(["-", "--workspace", wsp], stdin=data)
    assert code == 0, err
    assert "-: litellm-spendlogs" in err
    code, _, err = _run([str(DATA / "azure-*.json"), "--workspace", wsp])
    assert code == 0, err
    assert err.count(": azure-") == 3


def test_anonymous_ip_database_names_tor_exits(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """A GeoIP2 Anonymous IP database beside the ASN one: its flags become src_anonymizer, and
    detect's ip_context calls the address a Tor exit (before the ASN's hosting class)."""
    mmdb_writer = pytest.importorskip("mmdb_writer")
    from netaddr import IPSet

    from ringbreaker.detect.context import prepare

    anon = tmp_path / "anon.mmdb"
    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoIP2-Anonymous-IP-test")
    w.insert_network(IPSet(["203.0.113.0/24"]), {"is_anonymous": True, "is_tor_exit_node": True})
    w.to_db_file(str(anon))
    asn = _mmdb(tmp_path / "asn.mmdb")
    ingest(ws, [DATA / "cloudtrail.ndjson"], IngestConfig(geoip=(str(asn), str(anon))))
    assert rows(
        ws, "SELECT DISTINCT src_ip, src_asn, src_anonymizer FROM events WHERE src_ip = '203.0.113.10'"
    ) == [("203.0.113.10", 64500, "tor")]
    prepare(ws)
    assert rows(ws, "SELECT net_kind, internal FROM ip_context WHERE src_ip = '203.0.113.10'") == [
        ("tor", False)
    ]
