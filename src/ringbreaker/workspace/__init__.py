"""The workspace: one DuckDB file shared by every stage, opened and migrated here.

Location: ``--workspace PATH``, else ``$RINGBREAKER_WORKSPACE``, else ``./ringbreaker.duckdb``.
Migrations live in ``schema.sql`` as numbered blocks; each is applied in its own transaction with
its version row, so a crash halfway leaves the file at the previous version, never in between.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ringbreaker.errors import ResourceError, WorkspaceError

if TYPE_CHECKING:  # duckdb is imported on use: `scan` without a workspace never loads it
    import duckdb

__all__ = [
    "DAMAGED",
    "DEFAULT",
    "ENV",
    "PARSED_AT_INGEST",
    "check_file",
    "fill_parsed_columns",
    "guarded",
    "latest_version",
    "migrate",
    "migrations",
    "open_workspace",
    "path_of",
    "query_fault",
    "resolve",
    "resource_refusal",
    "version",
]

DEFAULT = "ringbreaker.duckdb"
ENV = "RINGBREAKER_WORKSPACE"
_BLOCK = re.compile(r"^-- migration (\d+): (.+)$", re.MULTILINE)


def resolve(path: str | os.PathLike[str] | None) -> Path:
    """The workspace path the user meant: the flag, then the environment, then the default."""
    return Path(path or os.environ.get(ENV) or DEFAULT)


def migrations() -> list[tuple[int, str, str]]:
    """(version, title, sql) for every block of schema.sql, in order."""
    text = resources.files("ringbreaker.workspace").joinpath("schema.sql").read_text(encoding="utf-8")
    marks = list(_BLOCK.finditer(text))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((int(m.group(1)), m.group(2).strip(), text[m.end() : end]))
    return out


PARSED_AT_INGEST = 10  # the migration that adds and fills the events columns parsed from each record


def fill_parsed_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Fill the events columns ingest parses from each record (request_length, response_length,
    guardrail, console) from ``raw``, as migration 10 did for rows stored before it: for rows a tool
    inserts with ``raw`` only (rule tests write events that way). The migration's own SQL runs again
    (its ALTERs are IF NOT EXISTS), so there is one definition of the fill."""
    con.execute(next(sql for v, _, sql in migrations() if v == PARSED_AT_INGEST))


def latest_version() -> int:
    return max(v for v, _, _ in migrations())


def open_workspace(
    path: str | os.PathLike[str] | None = None, *, read_only: bool = False, create: bool = True
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed and ``create``) and migrate the workspace; raise WorkspaceError
    naming the file.

    The one place a workspace is opened, so every verb fails the same way on a bad one: a missing
    file when the verb only reads (``create=False``: detect on nothing must not answer "no
    alerts"), a file that is not a DuckDB database, one cut short (``check_file``), or one whose
    blocks fail DuckDB's checksums as the catalog and the schema version are read.
    """
    import duckdb

    target = resolve(path)
    if not create and not target.is_file():
        raise WorkspaceError(
            "no workspace here: run `ringbreaker ingest`, `scan` or `demo` first (this verb reads one, "
            "it does not create one)",
            source=str(target),
        )
    check_file(target)
    try:
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB draws its own progress bar on stdout for long queries, which would corrupt
        # `--format json` output; the CLI shows progress with rich on stderr instead.
        con = duckdb.connect(str(target), read_only=read_only)
    except (duckdb.Error, OSError) as e:
        raise WorkspaceError(f"cannot open workspace: {_first_line(e)}{DAMAGED}", source=str(target)) from e
    try:
        con.execute("SET enable_progress_bar = false")
        tables = {str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if read_only and "schema_migrations" in tables:
            con.execute("SELECT max(version) FROM schema_migrations").fetchall()
    except duckdb.Error as e:
        con.close()
        raise WorkspaceError(f"cannot read workspace: {_first_line(e)}{DAMAGED}", source=str(target)) from e
    if not read_only:
        try:
            migrate(con, str(target))
        except duckdb.Error as e:
            con.close()
            raise WorkspaceError(
                f"cannot read workspace: {_first_line(e)}{DAMAGED}", source=str(target)
            ) from e
    return con


DAMAGED = (
    " (the file is damaged or not a ringbreaker workspace: restore it from a backup, or start a new one)"
)
_MAGIC_AT = 8  # DuckDB's main header: a checksum, then b"DUCK"
_HEADERS = (4096, 8192)  # the two database headers (the one with the higher iteration is current)
_DATA_AT = 12288  # where the first block begins


def check_file(target: Path) -> None:
    """Refuse a workspace file DuckDB would open and then read garbage or nothing from: one that is
    not a DuckDB file, or cut short inside its headers. Not compared: the file's size with the
    header's block count, which a healthy workspace can exceed after DuckDB truncates free blocks
    at its end (a false "truncated" on a valid workspace in the calibrate tests)."""
    try:
        size = target.stat().st_size
        if size == 0:
            return  # a new, empty file: DuckDB initialises it
        with target.open("rb") as f:
            head = f.read(_DATA_AT)
    except FileNotFoundError:
        return
    except OSError as e:
        raise WorkspaceError(f"cannot read workspace: {e.strerror or e}", source=str(target)) from e
    if len(head) < _DATA_AT or head[_MAGIC_AT : _MAGIC_AT + 4] != b"DUCK":
        what = "cut short" if head[_MAGIC_AT : _MAGIC_AT + 4] == b"DUCK" else "not a DuckDB database"
        raise WorkspaceError(f"cannot open workspace: {what} ({size:,} bytes){DAMAGED}", source=str(target))


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, title VARCHAR, "
        "applied_at TIMESTAMPTZ)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, source: str = "workspace") -> int:
    """Apply every migration newer than the file's version; return the resulting version."""
    import duckdb

    current = version(con)
    newest = latest_version()
    if current > newest:
        raise WorkspaceError(
            f"workspace schema version {current} is newer than this ringbreaker ({newest}); upgrade",
            source=source,
        )
    for v, title, sql in migrations():
        if v <= current:
            continue
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [v, title, datetime.now(UTC)])
            con.execute("COMMIT")
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise WorkspaceError(f"migration {v} ({title}) failed: {e}", source=source) from e
    return version(con)


def path_of(con: duckdb.DuckDBPyConnection) -> str:
    """The file behind a connection, for messages (``workspace`` when DuckDB cannot say)."""
    import duckdb

    try:
        rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
        row = rows.fetchone()
    except duckdb.Error:
        return "workspace"
    return str(row[0]) if row and row[0] else "workspace (in memory)"


def query_fault(e: BaseException) -> bool:
    """True when a DuckDB error is the query's own fault (bad SQL, a bad cast, a missing column),
    false when it is the file's (damaged blocks, a full disk, a lock, memory): a rule that fails
    to bind is the rule's error, a checksum mismatch under it is the workspace's."""
    import duckdb

    return isinstance(e, duckdb.ProgrammingError | duckdb.DataError)


@contextmanager
def guarded(con: duckdb.DuckDBPyConnection, action: str) -> Iterator[None]:
    """Turn a DuckDB failure inside the block into a WorkspaceError naming the file.

    This is the boundary every stage crosses to its storage: a damaged, full or locked workspace
    then reads as what it is, with its path, and the CLI exits 2 instead of printing a traceback.
    The path is read before the block runs, because a fatal error leaves the connection unusable.
    """
    import duckdb

    source = path_of(con)
    try:
        yield
    except duckdb.Error as e:
        detail = _first_line(e)
        full = resource_refusal(detail)
        if full is not None:
            raise ResourceError(f"{full} (during {action}); {_RESUME}", source=source) from e
        raise WorkspaceError(f"workspace failed during {action}: {detail}", source=source) from e


_RESUME = "what was committed before is kept: free room and run it again to complete it"
_NO_ROOM = ("no space left on device", "file too large", "disk quota exceeded")
_NO_MEMORY = ("out of memory", "could not allocate", "memory_limit")


def resource_refusal(detail: str) -> str | None:
    """What the machine refused, when a DuckDB error is a full disk or exhausted memory (DuckDB
    reports both as IO or OutOfMemory errors whose text names the cause); else None."""
    low = detail.lower()
    if any(k in low for k in _NO_ROOM):
        return f"the disk is full (or the file size limit reached): {detail}"
    if any(k in low for k in _NO_MEMORY):
        return f"out of memory: {detail}"
    return None
