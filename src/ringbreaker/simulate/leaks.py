"""Public code: real git repositories under OUT/public-code with leaks, decoys and ring tooling.

A leaked key sits in a commit dated at the leak time (author and committer date), so
``ringbreaker scan --history`` reports it with ``time`` equal to the leak time. Decoys are what a
scanner must not report: placeholders and documentation sample keys. One leak is removed in a
later commit, as real leaks usually are: the working tree is clean, the history is not. The ring's
creators publish their tooling here too, with the client fingerprint (user agent, routes) that
later shows up in telemetry, and no key-shaped strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ringbreaker._git import write as _git
from ringbreaker.simulate.timefmt import iso
from ringbreaker.simulate.world import Key, Org

DECOY_TEXTS = [
    ("placeholder", "README.md", "# {name}\n\nExport OPENAI_API_KEY=sk-...your-key... before running.\n"),
    (
        "docs-sample",
        "docs/aws.md",
        "Configure credentials:\n\n    aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "    aws_secret_access_key = <your-secret-access-key>\n",
    ),
    (
        "placeholder",
        ".env.example",
        "AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com/\nAZURE_OPENAI_API_KEY=<your-key>\n",
    ),
]


@dataclass(frozen=True)
class Decoy:
    repo: str
    path: str
    kind: str


def _leak_file(key: Key, org: Org) -> tuple[str, str]:
    """(path, content) of a file that leaks ``key`` the way developers really do."""
    if key.provider == "aws":
        return "bedrock_client.py", (
            "import boto3\n\n"
            f'AWS_ACCESS_KEY_ID = "{key.secret}"\n'
            f'AWS_SECRET_ACCESS_KEY = "{key.companion}"\n\n'
            f'client = boto3.client("bedrock-runtime", region_name="{org.region}",\n'
            "    aws_access_key_id=AWS_ACCESS_KEY_ID, aws_secret_access_key=AWS_SECRET_ACCESS_KEY)\n"
        )
    if key.provider == "azure":
        return "chat.py", (
            "from openai import AzureOpenAI\n\n"
            "client = AzureOpenAI(\n"
            f'    azure_endpoint="https://{org.account_name}.openai.azure.com/",\n'
            f'    api_key="{key.secret}",\n'
            '    api_version="2024-06-01",\n)\n'
        )
    return "bot.py", f'from openai import OpenAI\n\nclient = OpenAI(api_key="{key.secret}")\n'


def _author(org: Org, who: str) -> str:
    return f"{who.title()} Dev <{who}@{org.domain}>"


def leak_repo(root: Path, name: str, key: Key, org: Org, t: int, *, remove_after: int | None) -> list[Decoy]:
    """A developer's repository: a decoy-only first commit, the leak at ``t``, maybe its removal."""
    repo = root / name
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    decoys = []
    for kind, path, text in DECOY_TEXTS:
        p = repo / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text.format(name=name))
        decoys.append(Decoy(name, path, kind))
    author = _author(org, "dana")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial scaffold", date=iso(t - 86_400), author=author)
    path, text = _leak_file(key, org)
    (repo / path).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "working client", date=iso(t), author=author)
    if remove_after is not None:
        (repo / path).write_text("import os\n\n# credentials come from the environment now\n")
        _git(
            repo, "commit", "-q", "-am", "remove hardcoded credentials", date=iso(remove_after), author=author
        )
    return decoys


def tooling_repo(
    root: Path,
    tool: str,
    creators: list[str],
    providers: list[tuple[str, str]],
    tool_ua: str,
    proxy_ua: str,
    t: int,
) -> None:
    """A crew's reverse-proxy/key-checker repository, as the attribution stage will find it.

    Every creator commits code (the first writes the proxy, later ones add the key checker's
    settings), so each is visible in the history; every provider then commits the deployment
    config of their own public proxy host, which is how a host is tied to a person.
    """
    repo = root / tool
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text(
        f"# {tool}\n\nSelf-hosted reverse proxy for OpenAI-compatible, Azure OpenAI and AWS Claude "
        "endpoints with key pooling and a key checker.\n\n"
        "Routes: /proxy/openai, /proxy/azure/openai, /proxy/aws/claude; info page at /, "
        "status at /status, token lookup at /user/lookup.\n\n"
        "Keys: AZURE_CREDENTIALS=resource:deployment:key, AWS_CREDENTIALS=accesskeyid:secret:region "
        "(comma separated).\n"
    )
    (repo / "src").mkdir()
    lines = [
        f'export const USER_AGENT = "{tool_ua}";\n',
        f'export const PROXY_USER_AGENT = "{proxy_ua}";\n',
        "export const AWS_CHECK_INTERVAL_MIN = 90;\n",
        "export const AZURE_CHECK_INTERVAL_MIN = 60;\n",
        'export const AZURE_CHECK_API_VERSION = "2023-09-01-preview";\n',
        'export const STRIP_HEADERS = ["origin", "referer", "x-forwarded-for", "x-real-ip", '
        '"forwarded", "true-client-ip", "cf-connecting-ip"];\n',
    ]
    split = 2 if len(creators) > 1 else len(lines)
    for i, creator in enumerate(creators):
        part = lines[:split] if i == 0 else lines[split:] if i == 1 else []
        with (repo / "src" / "config.ts").open("a") as f:
            f.write("".join(part) if part else f"// maintained by {creator}\n")
        _git(repo, "add", "-A")
        _git(
            repo,
            "commit",
            "-q",
            "-m",
            f"{tool} v1" if i == 0 else "key checker settings",
            date=iso(t + i * 86_400),
            author=f"{creator} <{creator}@users.noreply.example>",
        )
    for i, (provider, host) in enumerate(providers):
        name = "deploy.env.example" if i == 0 else f"deploy-{provider}.env.example"
        (repo / name).write_text(
            f"PUBLIC_HOST={host}\nGATEKEEPER=user_token\nALLOW_NSFW=true\nAZURE_CREDENTIALS=\nAWS_CREDENTIALS=\n"
        )
        _git(repo, "add", "-A")
        _git(
            repo,
            "commit",
            "-q",
            "-m",
            "deployment example",
            date=iso(t + (3 + i) * 86_400),
            author=f"{provider} <{provider}@users.noreply.example>",
        )
