"""Fixtures for the prompt-model tests: rows of ../shared by id, never pasted text."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import SHARED

PROMPTS = SHARED / "datasets" / "prompts"


@pytest.fixture(scope="session")
def prompts_dir() -> Path:
    if not PROMPTS.exists():
        pytest.skip("../shared/datasets/prompts is absent (the shared folder sits beside the checkout)")
    return PROMPTS


def coco(prompts_dir: Path) -> dict[str, str]:
    with (prompts_dir / "coco_10k.csv").open(encoding="utf-8", newline="") as fh:
        return {r["case_number"]: r["prompt"] for r in csv.DictReader(fh)}


def jailbreakbench(prompts_dir: Path, name: str) -> dict[int, str]:
    doc = json.loads((prompts_dir / "jailbreakbench" / name).read_text(encoding="utf-8"))
    return {j["index"]: j["prompt"] for j in doc["jailbreaks"] if j.get("prompt")}


def i2p(prompts_dir: Path) -> list[tuple[str, bool]]:
    with (prompts_dir / "i2p.csv").open(encoding="utf-8", newline="") as fh:
        return [(r["prompt"], "sexual" in (r["categories"] or "")) for r in csv.DictReader(fh)]
