"""Options shared by every verb."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from ringbreaker.errors import RingbreakerError
from ringbreaker.workspace import ENV

EXIT_OK, EXIT_FOUND, EXIT_ERROR, EXIT_BUG = 0, 1, 2, 3
DEBUG_ENV = "RINGBREAKER_DEBUG"


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of a closed pipe or a full disk
    does not print a second error (the recipe of Python's signal docs for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in-process): nothing to flush
        pass


def run(command: click.Command) -> None:
    """Run a click command as a program: expected errors become exit code 2 with a clear message
    (never a traceback), a closed pipe is not an error.

    This is the program's outer boundary. The stages map what their libraries raise into the
    ringbreaker.errors tree, and an OSError here is the output itself failing (stdout on a full
    disk). Anything else is a bug: one line says so with exit code 3 and how to get the traceback
    (``RINGBREAKER_DEBUG=1``), instead of a traceback a user cannot act on.
    """
    try:
        command.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except RingbreakerError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(EXIT_OK)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"error: {where}{e.strerror or e}", err=True)
        _quiet_stdout()
        sys.exit(EXIT_ERROR)
    except MemoryError:
        click.echo(
            "error: out of memory: free memory (or give the verb less to hold at once) and run it again",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    except Exception as e:  # the one catch-all: the program's outer boundary (see the docstring)
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        click.echo(
            f"internal error (a bug in ringbreaker, please report it): {type(e).__name__}: {e}\n"
            f"  run again with {DEBUG_ENV}=1 for the traceback",
            err=True,
        )
        sys.exit(EXIT_BUG)


@contextmanager
def progress_counter(label: str, total: int, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A transient bar on stderr counting ``total`` items (off with ``quiet``); yields the callback
    that advances it by n, which a library call takes as its ``on_batch``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress, notes or summary on stderr (errors still print)."
)

workspace_option = click.option(
    "--workspace",
    "workspace",
    envvar=ENV,
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Workspace DuckDB file (env {ENV}; default ./ringbreaker.duckdb).",
)


class FormatChoice(click.Choice):  # type: ignore[type-arg]  # generic only in newer click
    """An output format: one of ``choices`` (what --help shows), or an old name still accepted and
    read as its new one (``aliases``: old -> new), so every verb can use the same names
    (table, json, jsonl, ...) without breaking a script written against an earlier release."""

    def __init__(self, choices: list[str], aliases: dict[str, str]) -> None:
        super().__init__(choices)
        self.aliases = aliases

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        return super().convert(self.aliases.get(str(value), value), param, ctx)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


class SizeType(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A byte size: 1048576, 512K, 25M, 1G."""

    name = "size"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        m = _SIZE.match(str(value))
        if not m:
            self.fail(f"{value!r} is not a size (examples: 512K, 25M, 1G)", param, ctx)
        mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
        return int(float(m.group(1)) * mult)
