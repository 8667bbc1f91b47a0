"""Every verb and every option that ``--help`` shows is documented in docs/cli.md (as sqlite-utils does).

The reference is split into one ``## `` section per verb; an option counts as documented only inside its own
verb's section, so a flag documented for ``scan`` does not cover the same flag on ``detect`` — except the
options every verb shares (``-q/--quiet``), documented once in the ``## Common options`` section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from ringbreaker.cli import cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COMMON = "(common)"
SHARED = frozenset({"--quiet"})  # the options the common section may document for every verb


def _sections() -> dict[str, str]:
    """Verb -> the text of its ``## `` section(s) in docs/cli.md."""
    out: dict[str, str] = {}
    for part in re.split(r"^## ", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        head = part.splitlines()[0]
        if head.startswith("Common options"):
            out[COMMON] = part
            continue
        m = re.search(r"[a-z][a-z-]+", head.replace("ringbreaker", ""))
        if m:
            out[m.group(0)] = out.get(m.group(0), "") + part
    return out


def _commands() -> Iterator[tuple[list[str], click.Command]]:
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    yield from walk(cli, [])


COMMANDS = list(_commands())


def test_every_verb_has_a_section() -> None:
    sections = _sections()
    missing = sorted({path[0] for path, _ in COMMANDS} - set(sections))
    assert COMMON in sections, "docs/cli.md has no `## Common options` section"
    assert not missing, f"verbs without a `## ` section in docs/cli.md: {missing}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_is_documented(path: list[str], command: click.Command) -> None:
    sections = _sections()
    section = sections.get(path[0], "")
    common = sections.get(COMMON, "")
    if len(path) > 1:  # a sub-verb (rules check) must be named in its verb's section
        assert re.search(rf"\b{re.escape(path[-1])}\b", section), f"{' '.join(path)} not in docs/cli.md"
    missing = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        longs = [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
        here = section + (common if SHARED.intersection(longs) else "")
        if longs and not any(re.search(re.escape(o) + r"(?![\w-])", here) for o in longs):
            missing.append(longs[0])
    assert not missing, f"`ringbreaker {' '.join(path)}` options missing from docs/cli.md: {missing}"


def test_a_missing_option_is_caught() -> None:
    """The check itself can fail: an option name the docs never mention is not found."""
    section = _sections()["scan"]
    assert not re.search(re.escape("--no-such-flag") + r"(?![\w-])", section)
    assert re.search(re.escape("--history") + r"(?![\w-])", section)
