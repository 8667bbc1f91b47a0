"""Scan: find leaked AI credentials in files, git history, archives and stdin.

Library use (the same call ``ringbreaker scan``, ``demo`` and the tests make)::

    from ringbreaker.scan import ScanConfig, scan

    result = scan(["repo/"], ScanConfig(), mode="history", workspace="case.duckdb")
    for f in result.findings:
        print(f.rule, f.path, f.line, f.fingerprint)

Modules: ``api`` (``scan()``), ``sources`` (walks, files, archives), ``git`` (history and the
index), ``matcher`` (the ``Engine`` protocol: Hyperscan or Python re), ``scanner`` (work units on
every core, hits into findings), ``owner`` (inventory and baseline), ``redact``, ``report`` (table,
JSON, JSONL, SARIF), ``sample`` (a repository with fake keys), ``verify`` (``--verify``: is a
leaked key still live? opt-in, read-only provider endpoints, cached in the workspace).
"""

from ringbreaker.scan.api import CONFIDENCE, Mode, Progress, ScanResult, scan
from ringbreaker.scan.matcher import HAVE_HYPERSCAN, Engine, Match, explain, find, make_engine
from ringbreaker.scan.owner import Inventory, load_inventory, read_inventory
from ringbreaker.scan.report import write_json, write_jsonl, write_sarif, write_table
from ringbreaker.scan.sources import ScanConfig, Stats
from ringbreaker.scan.verify import VerifyResult, verify_findings

__all__ = [
    "CONFIDENCE",
    "HAVE_HYPERSCAN",
    "Engine",
    "Inventory",
    "Match",
    "Mode",
    "Progress",
    "ScanConfig",
    "ScanResult",
    "Stats",
    "VerifyResult",
    "explain",
    "find",
    "load_inventory",
    "make_engine",
    "read_inventory",
    "scan",
    "verify_findings",
    "write_json",
    "write_jsonl",
    "write_sarif",
    "write_table",
]
