"""``ringbreaker.scan.scan()``, the library call under ``ringbreaker scan`` and ``demo``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from ringbreaker.errors import UsageError
from ringbreaker.model import fingerprint
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import ScanConfig, ScanResult, scan
from tests.conftest import HF, OPENAI


def test_floor_baseline_and_workspace(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    code = tmp_path / "code"
    code.mkdir()
    old, new = keygen(HF), keygen(OPENAI)
    (code / "old.py").write_text(f"T = '{old}'\n")
    base, ws = tmp_path / "baseline.json", tmp_path / "ws.duckdb"

    first = scan([code], ScanConfig(jobs=1), rules, baseline=base)
    assert first.baseline_written
    assert first.findings == ()
    assert [f.fingerprint for f in first.accepted] == [fingerprint(old)]

    (code / "new.py").write_text(f"T = '{new}'\n")
    second = scan([code], ScanConfig(jobs=1), rules, baseline=base, workspace=ws)
    assert not second.baseline_written
    assert [f.fingerprint for f in second.findings] == [fingerprint(new)]
    assert second.stats.suppressed_baseline == 1
    assert second.summary()["findings"] == 1
    con = duckdb.connect(str(ws), read_only=True)
    try:  # the workspace keeps every finding, the accepted ones too
        stored = {fp for (fp,) in con.execute("SELECT fingerprint FROM findings").fetchall()}
    finally:
        con.close()
    assert stored == {fingerprint(old), fingerprint(new)}

    with pytest.raises(dataclasses.FrozenInstanceError):
        second.findings = ()  # type: ignore[misc]
    assert isinstance(second, ScanResult)


def test_stdin_and_an_unknown_confidence(rules: list[SecretRule], keygen: Callable) -> None:
    key = keygen(OPENAI)
    found = scan([], ScanConfig(jobs=1), rules, stdin=f"k = '{key}'\n".encode()).findings
    assert [(f.path, f.fingerprint) for f in found] == [("<stdin>", fingerprint(key))]
    with pytest.raises(UsageError):
        scan([], ScanConfig(jobs=1), rules, min_confidence="certain")
