"""The one way ringbreaker runs git: scan reads history, attribute reads authors, the sample and
the simulated world write repositories. Core, so any stage may use it.

Every failure (git missing, a non-zero exit, a timeout) becomes an :class:`InputError` naming the
repository, so no ``subprocess`` exception reaches a user. Commands that write history run with the
user's git configuration switched off and a fixed author and date, so a generated repository is
the same on every machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ringbreaker.errors import InputError


def command(repo: Path, *args: str) -> list[str]:
    """The argv of ``git -C repo args`` (for a caller that streams through its own Popen)."""
    return ["git", "-C", str(repo), *args]


def run(
    repo: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    input: bytes | None = None,
) -> bytes:
    """The standard output of ``git -C repo args`` (fed ``input``); InputError when git is missing,
    fails or hangs."""
    try:
        return subprocess.run(
            command(repo, *args), check=True, capture_output=True, env=env, timeout=timeout, input=input
        ).stdout
    except FileNotFoundError as e:
        raise InputError("git is not installed", source=str(repo)) from e
    except OSError as e:
        raise InputError(f"cannot run git: {e}", source=str(repo)) from e
    except subprocess.CalledProcessError as e:
        msg = e.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"git {_verb(args)} failed: {msg[-1] if msg else e}", source=str(repo)) from e
    except subprocess.TimeoutExpired as e:
        raise InputError(f"git {_verb(args)} timed out after {timeout:g} s", source=str(repo)) from e


def _verb(args: tuple[str, ...]) -> str:
    """The git command among ``args``, past any leading ``-c name=value`` settings."""
    i = 0
    while i < len(args) - 1 and args[i] == "-c":
        i += 2
    return args[i] if i < len(args) else "?"


def write(repo: Path, *args: str, author: str | None = None, date: str | None = None) -> None:
    """Run a git command that builds a repository, with the user's global and system git
    configuration ignored; a commit is recorded as ``author`` ("Name <email>") at ``date`` (ISO 8601)."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if author:
        name, email = author[:-1].split(" <")
        env.update(
            GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email
        )
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    run(repo, *args, env=env)


def is_repo(path: Path) -> bool:
    """A work tree with a ``.git`` directory or file."""
    return path.is_dir() and (path / ".git").exists()


def discover_repos(root: Path) -> list[Path]:
    """``root`` if it is a repository (work tree or bare), else every repository beneath it."""
    if is_repo(root) or ((root / "HEAD").is_file() and (root / "objects").is_dir()):
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        if ".git" in dirnames or os.path.isfile(os.path.join(dirpath, ".git")):
            found.append(Path(dirpath))
            dirnames[:] = []
        else:
            dirnames.sort()
    return found
