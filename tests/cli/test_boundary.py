"""The program's outer boundary: what no stage mapped still reaches the user as one line."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest

import ringbreaker
from ringbreaker.cli.common import EXIT_BUG, EXIT_ERROR, run
from tests.conftest import rb

SRC = Path(ringbreaker.__file__).resolve().parent


def _failing(exc: Exception) -> click.Command:
    @click.command()
    def cmd() -> None:
        raise exc

    return cmd


def test_a_bug_is_one_line_and_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RINGBREAKER_DEBUG", raising=False)
    monkeypatch.setattr("sys.argv", ["ringbreaker"])
    with pytest.raises(SystemExit) as e:
        run(_failing(ZeroDivisionError("division by zero")))
    assert e.value.code == EXIT_BUG
    err = capsys.readouterr().err
    assert "internal error" in err
    assert "ZeroDivisionError" in err
    assert "Traceback" not in err
    monkeypatch.setenv("RINGBREAKER_DEBUG", "1")
    with pytest.raises(SystemExit):
        run(_failing(ZeroDivisionError("division by zero")))
    assert "Traceback" in capsys.readouterr().err


def test_full_disk_on_stdout_is_an_error_not_a_traceback() -> None:
    with Path("/dev/full").open("w") as full:
        import subprocess
        import sys

        p = subprocess.run(
            [sys.executable, "-m", "ringbreaker", "classify", "a red bicycle", "--format", "jsonl"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert p.returncode == EXIT_ERROR, p.stderr
    assert "No space left on device" in p.stderr
    assert "Traceback" not in p.stderr


def test_closed_pipe_is_quiet() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "ringbreaker", "rules", "list", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert err == b""  # click exits 1 on EPIPE, as `head`-style pipelines expect; nothing printed


def test_only_the_outer_boundary_catches_everything() -> None:
    """`except Exception` (or a bare `except:`) appears once in the package: in cli.common.run."""
    sites = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler):
                names = [node.type] if not isinstance(node.type, ast.Tuple) else list(node.type.elts)
                if node.type is None or any(isinstance(n, ast.Name) and n.id == "Exception" for n in names):
                    sites.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert len(sites) == 1, sites
    assert sites[0].startswith("cli/common.py:"), sites


def test_bad_since_is_a_usage_error(tmp_path: Path) -> None:
    p = rb("detect", "--since", "not-a-time", "--workspace", str(tmp_path / "ws.duckdb"))
    assert p.returncode == EXIT_ERROR
    assert "--since" in p.stderr
    assert "Traceback" not in p.stderr
