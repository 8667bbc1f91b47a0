"""Fixtures for `case`: one simulated world per session, its case files written by the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.case.world import make_world


@dataclass(frozen=True)
class World:
    workspace: Path
    truth: dict[str, Any]
    out: Path
    written: list[dict[str, Any]]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("case-world")
    ws, truth = make_world(tmp)
    out = tmp / "cases"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ringbreaker",
            "case",
            "--workspace",
            str(ws),
            "--out",
            str(out),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return World(ws, truth, out, json.loads(proc.stdout))
