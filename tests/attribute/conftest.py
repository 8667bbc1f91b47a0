"""A simulated world (two crews), scanned and ingested into a real workspace, shared by the module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.rules.loader import load_secret_rules
from ringbreaker.scan.history import Attribution, history_units
from ringbreaker.scan.scanner import run_units, to_findings
from ringbreaker.scan.sources import ScanConfig, Stats
from ringbreaker.simulate import SimConfig, simulate
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.findings import upsert_findings


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(world directory, pristine workspace file, truth) for seed 5: scan --history + ingest, no alerts."""
    root = tmp_path_factory.mktemp("attribute-world")
    out = root / "w"
    simulate(SimConfig(out=out, seed=5, scale=1.0, days=4, workers=1))
    ws = root / "pristine.duckdb"
    con = open_workspace(ws)
    try:
        rules, cfg, stats = load_secret_rules(), ScanConfig(), Stats()
        attributions: list[Attribution] = []
        hits, _ = run_units(rules, cfg, history_units([out / "public-code"], cfg, stats, attributions))
        hits = Attribution.apply(hits, attributions)
        upsert_findings(con, to_findings(rules, hits, stats))
        ingest(con, [out], IngestConfig())
    finally:
        con.close()
    return out, ws, json.loads((out / "truth.json").read_text())


@pytest.fixture
def workspace(world: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A private copy of the world's workspace, so a test's alerts and crews stay its own."""
    copy = tmp_path / "ws.duckdb"
    shutil.copy(world[1], copy)
    return copy
