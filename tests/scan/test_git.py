"""Git history and staged scans on real repositories made in the test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ringbreaker.model import fingerprint
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import ScanConfig, Stats, git, scan
from ringbreaker.scan.sample import make_sample_repo
from tests.conftest import ANTHROPIC, HF, OPENAI


def run_git(
    repo: Path, *args: str, date: str = "2025-01-01T00:00:00+00:00", who: str = "Ann", check: bool = True
) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": who,
        "GIT_AUTHOR_EMAIL": f"{who.lower()}@example.org",
        "GIT_COMMITTER_NAME": who,
        "GIT_COMMITTER_EMAIL": f"{who.lower()}@example.org",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=check, capture_output=True, text=True, env=env
    ).stdout.strip()


def history(rules: list[SecretRule], path: Path) -> tuple[list, Stats]:
    result = scan([path], ScanConfig(jobs=1), rules, mode="history")
    return list(result.findings), result.stats


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    run_git(r, "init", "-q", "-b", "main")
    return r


def test_key_committed_then_removed_is_found_with_introducing_commit(
    repo: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(OPENAI)
    (repo / "app.py").write_text("import openai\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "init", date="2025-02-01T08:00:00+00:00")
    (repo / "app.py").write_text(f"import openai\nopenai.api_key = '{key}'\n")
    run_git(repo, "commit", "-qam", "add key", date="2025-02-03T09:12:00+01:00", who="Bob")
    leak = run_git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text("import openai\nopenai.api_key = 'x'\nprint('hi')\n")
    run_git(repo, "commit", "-qam", "remove key", date="2025-02-04T09:00:00+00:00")
    (repo / "app.py").write_text(f"import openai\nopenai.api_key = '{key}'\nprint('again')\n")
    run_git(repo, "commit", "-qam", "oops, again", date="2025-03-01T00:00:00+00:00")

    found, stats = history(rules, repo)
    assert len(found) == 1  # same key, same path: reported once, at the commit that introduced it
    f = found[0]
    assert f.fingerprint == fingerprint(key)
    assert (f.commit, f.author, f.author_email, f.line) == (leak, "Bob", "bob@example.org", 2)
    assert f.time == "2025-02-03T08:12:00+00:00"
    assert f.author_date == f.time
    assert f.path == str(repo / "app.py")
    assert f.repo == str(repo)
    assert stats.commits == 4
    assert stats.blobs == 4


def test_every_ref_every_blob_once(repo: Path, rules: list[SecretRule], keygen: Callable) -> None:
    k_branch, k_merge, k_tag = keygen(HF), keygen(ANTHROPIC), keygen(HF)
    (repo / "a.txt").write_text("base\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "base")
    run_git(repo, "checkout", "-qb", "feature")
    (repo / "b.txt").write_text(f"HF_TOKEN={k_branch}\n")
    (repo / "shared.txt").write_text("feature side\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "feature", date="2025-01-02T00:00:00+00:00")
    run_git(repo, "checkout", "-q", "main")
    (repo / "shared.txt").write_text("main side\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "main", date="2025-01-03T00:00:00+00:00")
    run_git(repo, "merge", "-q", "feature", check=False)  # conflicts on shared.txt
    (repo / "shared.txt").write_text(f"resolved\nkey = '{k_merge}'\n")  # only in the merge commit
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "merge", date="2025-01-04T00:00:00+00:00")
    merge = run_git(repo, "rev-parse", "HEAD")
    assert len(run_git(repo, "rev-list", "--parents", "-n1", "HEAD").split()) == 3
    run_git(repo, "checkout", "-q", "--orphan", "tagged")
    run_git(repo, "rm", "-rqf", ".")
    (repo / "t.txt").write_text(f"HF_TOKEN={k_tag}\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "tagged", date="2025-01-05T00:00:00+00:00")
    run_git(repo, "tag", "v1")
    run_git(repo, "checkout", "-q", "main")
    run_git(repo, "branch", "-D", "tagged")
    run_git(repo, "branch", "-D", "feature")

    found, stats = history(rules, repo)
    by_fp = {f.fingerprint: f for f in found}
    assert set(by_fp) == {fingerprint(k_branch), fingerprint(k_merge), fingerprint(k_tag)}
    assert by_fp[fingerprint(k_merge)].commit == merge
    unique_blobs = set(run_git(repo, "rev-list", "--all", "--objects").split("\n"))
    n_blobs = sum(
        1
        for line in unique_blobs
        if " " in line and run_git(repo, "cat-file", "-t", line.split()[0]) == "blob"
    )
    assert stats.blobs == n_blobs


def test_discovers_repositories_beneath_a_directory(tmp_path: Path, rules: list[SecretRule]) -> None:
    keys_a = make_sample_repo(tmp_path / "code" / "a", seed=1)
    keys_b = make_sample_repo(tmp_path / "code" / "nested" / "b", seed=2)
    found, stats = history(rules, tmp_path / "code")
    fps = {f.fingerprint for f in found}
    assert stats.repos == 2
    for keys in (keys_a, keys_b):
        assert fingerprint(keys["openai"]) in fps
        assert fingerprint(keys["aws_id"]) in fps
        assert fingerprint(keys["huggingface"]) not in fps  # .gitignored, never committed


def test_not_a_repository_is_an_input_error(tmp_path: Path, rules: list[SecretRule]) -> None:
    from ringbreaker.errors import InputError

    with pytest.raises(InputError, match="not a git repository"):
        history(rules, tmp_path)


def test_staged_scan_sees_the_index_not_the_worktree(
    repo: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (repo / "clean.txt").write_text("nothing\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "init")
    (repo / "config.env").write_text(f"HF_TOKEN={key}\n")
    (repo / "unstaged.env").write_text(f"HF_TOKEN={keygen(HF)}\n")
    run_git(repo, "add", "config.env")
    found = scan([repo], ScanConfig(jobs=1), rules, mode="staged").findings
    assert [f.fingerprint for f in found] == [fingerprint(key)]
    assert found[0].path.endswith("config.env")


def test_introductions_parse_paths_with_spaces(repo: Path) -> None:
    (repo / "with space ü.txt").write_text("x\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "one")
    intro, commits = git.introductions(repo)
    assert [i.path for i in intro.values()] == ["with space ü.txt"]
    assert commits == 1
