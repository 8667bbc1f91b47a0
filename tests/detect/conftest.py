"""A small simulated world, scanned and ingested once per session (about 10 s)."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import rb as shared_rb

rb = partial(shared_rb, check=True)  # the real CLI; a failing step fails the test unless told


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(workspace after simulate + scan --history + ingest, truth.json) for seed 1."""
    root = tmp_path_factory.mktemp("world")
    w, ws = root / "w", root / "ws.duckdb"
    rb("simulate", str(w), "--seed", "1", "-q")
    rb("scan", "--history", str(w / "public-code"), "--workspace", str(ws), "--format", "jsonl", check=False)
    rb("ingest", str(w), "--workspace", str(ws))
    return ws, json.loads((w / "truth.json").read_text())


@pytest.fixture
def ws_copy(world: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A private copy of the session workspace, for tests that write alerts."""
    dest = tmp_path / "ws.duckdb"
    shutil.copy(world[0], dest)
    return dest
