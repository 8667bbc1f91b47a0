"""History scans over the whole object store and over damaged or shallow repositories (real git)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import ScanConfig, Stats, scan
from ringbreaker.scan.history import history_units
from tests.conftest import ANTHROPIC, HF, OPENAI
from tests.scan.test_git import repo, run_git

__all__ = ["repo"]  # the fixture: an empty repository on branch main


def commit_file(repo: Path, name: str, text: str, msg: str, date: str = "2025-03-01T10:00:00+00:00") -> str:
    (repo / name).write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", msg, date=date)
    return run_git(repo, "rev-parse", "HEAD")


def drop_object(repo: Path, name: str) -> None:
    """Delete a loose object from the store (what a broken copy or a partial clone looks like)."""
    (repo / ".git" / "objects" / name[:2] / name[2:]).unlink()


def history(path: Path, jobs: int = 1, all_objects: bool = False) -> tuple[list, Stats]:
    cfg = ScanConfig(jobs=jobs, all_objects=all_objects)
    result = scan([path], cfg, mode="history")
    return list(result.findings), result.stats


def test_all_objects_finds_a_commit_a_force_push_left_behind(repo: Path, keygen: Callable) -> None:
    key = keygen(OPENAI)
    commit_file(repo, "README.md", "hello\n", "init")
    leak = commit_file(repo, "app.py", f"KEY = '{key}'\n", "oops", date="2025-03-02T11:00:00+00:00")
    run_git(repo, "reset", "-q", "--hard", "HEAD~1")  # the leaking commit is now on no ref
    run_git(repo, "reflog", "expire", "--expire=now", "--all")

    on_refs, _ = history(repo)
    assert on_refs == []
    found, stats = history(repo, all_objects=True)
    assert [(f.rule, f.commit, f.path) for f in found] == [
        ("secret.openai.project-key", leak, str(repo / "app.py"))
    ]
    assert found[0].time == "2025-03-02T11:00:00+00:00"
    assert stats.commits == 2


def test_all_objects_finds_a_blob_never_committed(repo: Path, keygen: Callable) -> None:
    key = keygen(HF)
    commit_file(repo, "README.md", "hello\n", "init")
    (repo / "notes.txt").write_text(f"HF_TOKEN={key}\n")
    blob = run_git(repo, "hash-object", "-w", "notes.txt")
    (repo / "notes.txt").unlink()

    assert history(repo)[0] == []
    found, _ = history(repo, all_objects=True)
    assert len(found) == 1
    assert found[0].path == f"{repo}@blob:{blob}"
    assert found[0].commit is None
    assert found[0].rule.startswith("secret.huggingface")


def test_a_missing_blob_is_reported_and_the_others_still_found(repo: Path, keygen: Callable) -> None:
    kept, lost = keygen(OPENAI), keygen(ANTHROPIC)
    commit_file(repo, "a.py", f"KEY = '{kept}'\n", "a")
    commit_file(repo, "b.py", f"KEY = '{lost}'\n", "b")
    drop_object(repo, run_git(repo, "rev-parse", "HEAD:b.py"))

    found, stats = history(repo)
    assert [f.path for f in found] == [str(repo / "a.py")]
    assert any("missing from the object store" in e and "b.py" in e for e in stats.errors)


def test_a_missing_tree_skips_its_commits_not_the_run(repo: Path, keygen: Callable) -> None:
    first, third = keygen(OPENAI), keygen(HF)
    commit_file(repo, "a.py", f"KEY = '{first}'\n", "a")
    broken = commit_file(repo, "b.py", "print(1)\n", "b")
    (repo / "c").mkdir()
    commit_file(repo, "c/d.py", f"TOKEN = '{third}'\n", "c")
    drop_object(repo, run_git(repo, "rev-parse", f"{broken}^{{tree}}"))

    found, stats = history(repo)
    assert str(repo / "a.py") in [f.path for f in found]
    skipped = [e for e in stats.errors if "commit skipped" in e]
    assert any(broken[:12] in e for e in skipped)
    assert len(skipped) <= 2  # the broken commit, and its child whose diff needs the lost tree


def test_a_shallow_clone_warns_that_history_is_incomplete(
    repo: Path, tmp_path: Path, keygen: Callable
) -> None:
    commit_file(repo, "a.py", f"KEY = '{keygen(OPENAI)}'\n", "a")
    commit_file(repo, "b.py", "print(1)\n", "b")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)],
        check=True,
        capture_output=True,
    )
    found, stats = history(shallow)
    assert any("shallow clone" in e for e in stats.errors)
    assert [f.path for f in found] == [str(shallow / "a.py")]  # still in the one commit it has


def test_workers_read_blobs_themselves(repo: Path, rules: list[SecretRule], keygen: Callable) -> None:
    """Enumerating history holds no blob contents (memory bounded by the work in flight), and a
    pool of workers, each reading through its own git process, finds what the inline scan finds."""
    keys = [keygen(OPENAI) for _ in range(3)]
    for i in range(90):
        (repo / f"m{i}.py").write_text(f"X = {i}\n" + (f"KEY = '{keys[i % 3]}'\n" if i % 30 == 0 else ""))
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "many")
    units = list(history_units([repo], ScanConfig(), Stats(), []))
    assert len(units) == 90
    assert all(u.data is None and u.blob and u.size > 0 for u in units)

    inline, _ = history(repo, jobs=1)
    pooled, stats = history(repo, jobs=2)
    assert len(inline) == 3
    assert [(f.path, f.fingerprint) for f in pooled] == [(f.path, f.fingerprint) for f in inline]
    assert stats.blobs == 90
    assert stats.errors == []


def test_git_missing_is_a_clear_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commit_file(repo, "a.py", "x = 1\n", "a")
    monkeypatch.setenv("PATH", str(repo))  # no git on PATH
    assert shutil.which("git") is None
    from ringbreaker.errors import InputError

    with pytest.raises(InputError, match="git is not installed"):
        history(repo)


def test_a_renamed_blob_is_attributed_to_its_first_commit_and_path(repo: Path, keygen: Callable) -> None:
    """Blobs are scanned under the path the newest commit gives them (the log of introducing
    commits still runs), then reported at the commit and path that brought them in, archive
    entries included."""
    key, zipped = keygen(OPENAI), keygen(HF)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/config.txt", f"HF_TOKEN={zipped}\n")
    (repo / "bundle.zip").write_bytes(buf.getvalue())
    first = commit_file(repo, "old.py", f"KEY = '{key}'\n", "add", date="2025-03-01T10:00:00+00:00")
    run_git(repo, "mv", "old.py", "new.py")
    run_git(repo, "mv", "bundle.zip", "moved.zip")
    run_git(repo, "commit", "-qm", "rename", date="2025-04-01T10:00:00+00:00")

    found, stats = history(repo, jobs=1)
    assert sorted((f.path, f.commit) for f in found) == [
        (f"{repo}/bundle.zip!inner/config.txt", first),
        (f"{repo}/old.py", first),
    ]
    assert all(f.time == "2025-03-01T10:00:00+00:00" for f in found)
    assert stats.commits == 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_blob_introduced_as_a_notebook_is_scanned_as_one(repo: Path, keygen: Callable, jobs: int) -> None:
    """The log is read newest first and each blob is scanned as soon as it is named, under its
    newest path. Here the same bytes were first a notebook and later a plain .json file: the
    finding is the notebook's (its cell), at the commit that introduced it, counted once."""
    key = keygen(ANTHROPIC)
    cell = {"cell_type": "code", "source": [f'KEY = "{key}"\n'], "metadata": {}, "outputs": []}
    nb = '{\n "cells": [\n  {"cell_type": "markdown", "source": ["x"], "metadata": {}},\n  ' + (
        json.dumps(cell) + '\n ],\n "metadata": {},\n "nbformat": 4,\n "nbformat_minor": 5\n}\n'
    )
    first = commit_file(repo, "demo.ipynb", nb, "notebook", date="2025-03-01T10:00:00+00:00")
    run_git(repo, "rm", "-q", "demo.ipynb")
    run_git(repo, "commit", "-qm", "drop", date="2025-03-02T10:00:00+00:00")
    for i in range(70):  # enough units for a pool of workers (INLINE_UNITS)
        (repo / f"f{i}.txt").write_text(f"{i}\n")
    commit_file(repo, "export.json", nb, "same bytes, another kind", date="2025-04-01T10:00:00+00:00")

    found, stats = history(repo, jobs=jobs)
    assert [(f.path, f.cell, f.line, f.commit) for f in found] == [(f"{repo}/demo.ipynb", 1, 1, first)]
    assert found[0].time == "2025-03-01T10:00:00+00:00"
    assert stats.blobs == 71
    assert stats.errors == []
