"""Shared fixtures. Keys are fake and generated at test time from rule templates."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ringbreaker.rules.examples import expand
from ringbreaker.rules.loader import SecretRule, load_secret_rules

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def rb(
    *args: str,
    stdin: str | bytes | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would, ignoring any RINGBREAKER_WORKSPACE of
    the environment the tests run in."""
    env = {k: v for k, v in os.environ.items() if k != "RINGBREAKER_WORKSPACE"}
    return subprocess.run(
        [sys.executable, "-m", "ringbreaker", *args],
        input=stdin.decode() if isinstance(stdin, bytes) else stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=check,
    )


@pytest.fixture(scope="session")
def rules() -> list[SecretRule]:
    return load_secret_rules()


@pytest.fixture
def keygen() -> Callable[[str], str]:
    """keygen("hf_{{letters:34}}") -> a fresh fake key; deterministic per test."""
    rng = random.Random(os.environ.get("PYTEST_CURRENT_TEST", "seed"))
    return lambda template: expand(template, rng)


OPENAI = "sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}"
ANTHROPIC = "sk-ant-api03-{{urlsafe:93}}AA"
HF = "hf_{{letters:34}}"
