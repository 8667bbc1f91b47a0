"""The workspace file: created, migrated once, versioned, atomic upserts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ringbreaker.errors import WorkspaceError
from ringbreaker.model import Finding
from ringbreaker.workspace import latest_version, migrations, open_workspace, resolve, version
from ringbreaker.workspace.findings import upsert_findings


def finding(**kw: object) -> Finding:
    base = dict(
        id="i1",
        rule="secret.x.y",
        provider="x",
        title="X",
        fingerprint="f" * 64,
        preview="ab…(9)",
        length=9,
        path="a.py",
        line=1,
        column=1,
        confidence="high",
        time="2025-02-01T00:00:00+00:00",
    )
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def test_resolve_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RINGBREAKER_WORKSPACE", raising=False)
    assert resolve(None) == Path("ringbreaker.duckdb")
    monkeypatch.setenv("RINGBREAKER_WORKSPACE", str(tmp_path / "env.duckdb"))
    assert resolve(None) == tmp_path / "env.duckdb"
    assert resolve(tmp_path / "flag.duckdb") == tmp_path / "flag.duckdb"


def test_migrations_apply_once(tmp_path: Path) -> None:
    assert [v for v, _, _ in migrations()] == sorted({v for v, _, _ in migrations()})
    con = open_workspace(tmp_path / "w.duckdb")
    assert version(con) == latest_version()
    con.close()
    con = open_workspace(tmp_path / "w.duckdb")  # reopening is a no-op
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (latest_version(),)
    con.close()


def test_newer_workspace_refused(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "w.duckdb")
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(WorkspaceError, match="newer"):
        open_workspace(tmp_path / "w.duckdb")


def test_not_a_database_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.duckdb"
    bad.write_text("this is not a database\n")
    with pytest.raises(WorkspaceError, match=r"notes\.duckdb"):
        open_workspace(bad)


def test_upsert_keeps_earliest_leak(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "w.duckdb")
    upsert_findings(con, [finding(time="2025-02-01T00:00:00+00:00", commit="c1", line=3)])
    upsert_findings(con, [finding(time="2025-05-01T00:00:00+00:00", commit=None, line=7)])
    upsert_findings(con, [finding(time="2025-01-01T00:00:00+00:00", commit="c0", line=9)])
    rows = con.execute("SELECT commit_id, line, CAST(leak_time AS VARCHAR) FROM findings").fetchall()
    assert rows == [("c0", 9, "2025-01-01 00:00:00+00")]
    con.close()


def test_failed_upsert_leaves_workspace_unchanged(tmp_path: Path) -> None:
    con = open_workspace(tmp_path / "w.duckdb")
    upsert_findings(con, [finding()])
    with pytest.raises(duckdb.Error):
        upsert_findings(con, [finding(id="i2", fingerprint="e" * 64), finding(id="i3", time="not a time")])
    assert con.execute("SELECT count(*) FROM findings").fetchone() == (1,)
    con.close()
