"""Fixtures for the ingest tests: real-shaped samples under data/, a fresh workspace per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ringbreaker.workspace import open_workspace

DATA = Path(__file__).parent / "data"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_workspace(tmp_path / "ws.duckdb")
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> list[tuple[object, ...]]:
    return con.execute(sql, list(params)).fetchall()
