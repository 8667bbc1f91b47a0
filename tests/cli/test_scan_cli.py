"""The `ringbreaker scan` command as a user runs it: a real process, real files, real DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import jsonschema

from ringbreaker.model import fingerprint
from ringbreaker.scan.sample import make_sample_repo
from tests.conftest import HF, OPENAI, rb
from tests.scan.test_report import sarif_schema


def test_exit_codes(tmp_path: Path, keygen: Callable) -> None:
    (tmp_path / "clean.py").write_text("print('hello')\n")
    assert rb("scan", str(tmp_path / "clean.py")).returncode == 0
    (tmp_path / "leak.py").write_text(f"HF_TOKEN = '{keygen(HF)}'\n")
    found = rb("scan", str(tmp_path))
    assert found.returncode == 1
    assert "huggingface" in found.stdout
    missing = rb("scan", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "nope" in missing.stderr
    assert rb("scan").returncode == 2
    assert rb("scan", "--format", "xml", str(tmp_path)).returncode == 2


def test_history_sarif_validates(tmp_path: Path) -> None:
    keys = make_sample_repo(tmp_path / "repo")
    out = rb("scan", "--history", str(tmp_path / "repo"), "--format", "sarif")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    jsonschema.validate(doc, sarif_schema())
    results = doc["runs"][0]["results"]
    assert {r["properties"]["fingerprint"] for r in results} >= {fingerprint(keys["openai"])}
    assert all(r["properties"]["commit"] for r in results)
    assert keys["openai"] not in out.stdout
    assert keys["openai"] not in out.stderr


def test_jsonl_stdin_and_show_secrets(keygen: Callable) -> None:
    key = keygen(OPENAI)
    out = rb("scan", "-", "--format", "jsonl", stdin=f"diff\n+OPENAI_API_KEY={key}\n".encode())
    assert out.returncode == 1
    row = json.loads(out.stdout)
    assert (row["path"], row["line"], row["fingerprint"]) == ("<stdin>", 2, fingerprint(key))
    assert key not in out.stdout + out.stderr
    shown = rb("scan", "-", "--format", "jsonl", "--show-secrets", stdin=f"k={key}\n".encode())
    assert json.loads(shown.stdout)["secret"] == key


def test_inventory_marks_owned_keys(tmp_path: Path, keygen: Callable) -> None:
    mine, theirs = keygen(HF), keygen(HF)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.env").write_text(f"HF_TOKEN={mine}\nOTHER={theirs}\n")
    inv = tmp_path / "inventory.txt"
    inv.write_text(f"# my keys\n{fingerprint(mine)}\n")
    rows = [
        json.loads(x)
        for x in rb(
            "scan", str(tmp_path / "code"), "--inventory", str(inv), "--format", "jsonl"
        ).stdout.splitlines()
    ]
    assert {r["fingerprint"]: r["owned"] for r in rows} == {
        fingerprint(mine): True,
        fingerprint(theirs): False,
    }
    inv.write_text(f"HF_TOKEN={theirs}\n")  # raw keys in .env form are hashed on read
    rows = [
        json.loads(x)
        for x in rb(
            "scan", str(tmp_path / "code"), "--inventory", str(inv), "--format", "jsonl"
        ).stdout.splitlines()
    ]
    assert {r["fingerprint"]: r["owned"] for r in rows} == {
        fingerprint(mine): False,
        fingerprint(theirs): True,
    }


def test_baseline_written_then_suppresses(tmp_path: Path, keygen: Callable) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "old.py").write_text(f"\n\nT = '{keygen(HF)}'\n")
    base = tmp_path / "baseline.json"
    first = rb("scan", str(code), "--baseline", str(base))
    assert first.returncode == 0
    assert base.exists()
    accepted = json.loads(base.read_text())["findings"]
    assert len(accepted) == 1
    assert "secret" not in accepted[0]
    (code / "old.py").write_text(
        f"# moved down\n\n\n\nT = '{(code / 'old.py').read_text().split(chr(39))[1]}'\n"
    )
    assert rb("scan", str(code), "--baseline", str(base)).returncode == 0  # same id though the line moved
    (code / "new.py").write_text(f"T = '{keygen(HF)}'\n")
    again = rb("scan", str(code), "--baseline", str(base), "--format", "jsonl")
    assert again.returncode == 1
    assert [json.loads(x)["path"] for x in again.stdout.splitlines()] == [str(code / "new.py")]
    assert "1 in baseline" in again.stderr


def test_workspace_upsert(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    keys = make_sample_repo(repo)
    ws = tmp_path / "ws.duckdb"
    for _ in range(2):  # rescans update, never duplicate
        assert rb("scan", "--history", str(repo), "--workspace", str(ws), "-q").returncode == 1
    assert rb("scan", str(repo), "--workspace", str(ws), "-q").returncode == 1
    con = duckdb.connect(str(ws), read_only=True)
    rows = con.execute(
        "SELECT fingerprint, location, commit_id, year(leak_time) FROM findings ORDER BY location"
    ).fetchall()
    con.close()
    assert len(rows) == len({(r[0], r[1]) for r in rows}) == 3
    by_fp = {r[0]: r for r in rows}
    openai = by_fp[fingerprint(keys["openai"])]
    assert openai[2] is not None
    assert openai[3] == 2025
    # the working-tree rescan must not replace the introducing commit with a newer mtime
    nb = next(r for r in rows if r[1].endswith("#cell0"))
    assert nb[2] is not None
    assert nb[3] == 2025


def test_workspace_from_environment(tmp_path: Path, keygen: Callable) -> None:
    (tmp_path / "a.py").write_text(f"T = '{keygen(HF)}'\n")
    env = {**os.environ, "RINGBREAKER_WORKSPACE": str(tmp_path / "env.duckdb")}
    subprocess.run(
        [sys.executable, "-m", "ringbreaker", "scan", str(tmp_path / "a.py"), "-q"],
        env=env,
        check=False,
        capture_output=True,
    )
    assert (tmp_path / "env.duckdb").exists()


def test_help_teaches() -> None:
    out = rb("scan", "--help").stdout
    for word in ("--history", "--format", "Exit codes", "Examples", "--baseline", "--inventory", "stdin"):
        assert word in out
