"""`-q/--quiet` means the same on every verb: nothing on stderr but errors."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from ringbreaker.cli import cli
from ringbreaker.workspace import open_workspace
from tests.conftest import rb

# Verbs whose stderr is only the user's own request (check results, help): no summary to silence.
NO_QUIET = {"rules check", "rules import-sigma", "rules list", "demo"}


def test_every_verb_with_a_summary_has_quiet() -> None:
    ctx = click.Context(cli)
    missing = []
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        subs = (
            [(f"{name} {s}", cmd.get_command(ctx, s)) for s in cmd.list_commands(ctx)]
            if isinstance(cmd, click.Group)
            else [(name, cmd)]
        )
        for full, sub in subs:
            assert sub is not None
            opts = {o for p in sub.params for o in p.opts}
            if full not in NO_QUIET and not {"-q", "--quiet"} <= opts:
                missing.append(full)
    assert not missing, f"verbs without -q/--quiet: {missing}"


@pytest.mark.parametrize(
    "args",
    [["detect"], ["attribute"], ["case", "--out", "{tmp}/cases"]],
    ids=["detect", "attribute", "case"],
)
def test_quiet_silences_notes_and_summary(tmp_path: Path, args: list[str]) -> None:
    ws = tmp_path / "ws.duckdb"
    open_workspace(ws).close()
    cmd = [a.replace("{tmp}", str(tmp_path)) for a in args]
    loud = rb(*cmd, "--workspace", str(ws))
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.strip(), "without -q the verb says what it did"
    quiet = rb(*cmd, "--workspace", str(ws), "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
