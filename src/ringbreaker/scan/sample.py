"""A small sample repository with fake keys, for the demo and the tests.

Keys are generated at run time from the rules' own example templates, so nothing key-shaped is
stored in the repository. The history plants a key, then removes it, as real leaks usually go:
the working tree is clean, the history is not.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

from ringbreaker import _git as _gitcore
from ringbreaker.rules.examples import expand


def fake_key(template: str, seed: str) -> str:
    """One fake credential from a template such as ``sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}``."""
    return expand(template, random.Random(seed))


def _git(
    repo: Path, *args: str, date: str | None = None, author: str = "Dana Dev <dana@example.org>"
) -> None:
    _gitcore.write(repo, *args, author=author, date=date)


def make_sample_repo(root: Path, seed: int = 7) -> dict[str, str]:
    """Create ``root`` as a git repository with leaked fake keys; return {name: key} planted.

    History: an OpenAI key committed on 2025-03-01 and removed the next day; an Anthropic key in a
    notebook; an AWS key pair inside a zip; a Hugging Face token in a .env that .gitignore hides
    (found by a working-tree scan only with --no-ignore) and a documentation placeholder that must
    never be reported.
    """
    keys = {
        "openai": fake_key("sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}", f"{seed}-openai"),
        "anthropic": fake_key("sk-ant-api03-{{urlsafe:93}}AA", f"{seed}-anthropic"),
        "aws_id": fake_key("AKIA{{b32:16}}", f"{seed}-aws"),
        "aws_secret": fake_key("{{b64:40}}", f"{seed}-aws-secret"),
        "huggingface": fake_key("hf_{{letters:34}}", f"{seed}-hf"),
    }
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# chatbot\n\nSet OPENAI_API_KEY=sk-...your-key... before running.\n")
    (root / "app.py").write_text(
        f'from openai import OpenAI\n\nclient = OpenAI(api_key="{keys["openai"]}")\n'
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "first version", date="2025-03-01T09:12:00+00:00")
    (root / "app.py").write_text(
        'import os\n\nfrom openai import OpenAI\n\nclient = OpenAI(api_key=os.environ["OPENAI_API_KEY"])\n'
    )
    _git(root, "commit", "-q", "-am", "read the key from the environment", date="2025-03-02T10:00:00+00:00")
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": [
                    "import anthropic\n",
                    f'client = anthropic.Anthropic(api_key="{keys["anthropic"]}")\n',
                ],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "explore.ipynb").write_text(json.dumps(nb, indent=1))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "deploy/credentials",
            f"[default]\naws_access_key_id = {keys['aws_id']}\n"
            f"aws_secret_access_key = {keys['aws_secret']}\n",
        )
    (root / "deploy.zip").write_bytes(buf.getvalue())
    (root / ".gitignore").write_text(".env\n")
    (root / ".env").write_text(f"HF_TOKEN={keys['huggingface']}\n")
    _git(root, "add", "-A")
    _git(
        root,
        "commit",
        "-q",
        "-m",
        "notebook and deploy bundle",
        date="2025-03-05T16:40:00+00:00",
        author="Sam Ops <sam@example.org>",
    )
    return keys
