"""What public code says about a crew: who wrote the tooling, who deployed it, and where.

Key-abuse tooling is published (Storm-2139's creators shared theirs; the oai-reverse-proxy family
is on public forges). Its code carries the client fingerprint its checker and proxy send (user
agent strings), and deployment configs name the public proxy host. A repository whose added lines
contain a user agent seen only in abuse traffic ties that traffic to the repository's authors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ringbreaker import _git
from ringbreaker._git import discover_repos
from ringbreaker.errors import InputError

# A deployment setting that names a host (PUBLIC_HOST=..., DOMAIN: ..., BASE_URL=https://...).
_HOST_SETTING = re.compile(
    r"(?im)^\s*[+]?\s*[A-Z_]*(?:HOST|DOMAIN|URL|ENDPOINT)[A-Z_]*\s*[=:]\s*[\"']?(?:https?://)?"
    r"([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)"
)
_SEP = "\x1e"


@dataclass
class Commit:
    """One commit: its author and the text it added (diff lines starting with '+')."""

    sha: str
    author: str
    email: str
    time: str  # ISO 8601 UTC
    files: list[str]
    added: str

    def hosts(self) -> list[str]:
        """Hosts named by deployment settings this commit added."""
        return sorted({m.group(1).lower() for m in _HOST_SETTING.finditer(self.added)})


@dataclass
class Repo:
    name: str
    path: str
    commits: list[Commit] = field(default_factory=list)

    def added_text(self) -> str:
        return "\n".join(c.added for c in self.commits)


def _log(repo: Path) -> list[Commit]:
    fmt = f"{_SEP}%H%x00%an%x00%ae%x00%aI"
    out = _git.run(
        repo,
        "log",
        "--all",
        "--reverse",
        "-p",
        "--no-color",
        "--no-ext-diff",
        "--unified=0",
        f"--format={fmt}",
        timeout=600,
    ).decode("utf-8", "replace")
    commits = []
    for chunk in out.split(_SEP)[1:]:
        head, _, body = chunk.partition("\n")
        sha, author, email, when = [*head.split("\x00"), "", "", ""][:4]
        files = re.findall(r"^\+\+\+ b/(.+)$", body, re.MULTILINE)
        added = "\n".join(
            line[1:] for line in body.splitlines() if line.startswith("+") and not line.startswith("+++")
        )
        commits.append(Commit(sha, author, email, when, files, added))
    return commits


def index(roots: list[Path]) -> list[Repo]:
    """Every git repository under ``roots`` with its full history (all refs)."""
    repos: list[Repo] = []
    for root in roots:
        if not root.exists():
            raise InputError("no such directory", source=str(root))
        for repo in discover_repos(root):
            repos.append(Repo(repo.name, str(repo), _log(repo)))
    return repos
