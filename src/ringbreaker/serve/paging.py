"""Pages of every list the workbench shows: the same ``page`` and ``per_page`` parameters (and the
same previous/next links) as the alert inbox, computed in SQL with LIMIT/OFFSET and a count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

MAX_PER_PAGE = 500


@dataclass(frozen=True)
class Page:
    """Which page of a list: 1-based ``page`` of ``per_page`` rows."""

    page: int = 1
    per_page: int = 50

    @classmethod
    def parse(cls, params: dict[str, str], default: int = 50) -> Page:
        """From query parameters; ValueError says what is wrong (answered 400)."""
        try:
            page = int(params.get("page", "1"))
            per_page = int(params.get("per_page", str(default)))
        except ValueError:
            raise ValueError("page and per_page are whole numbers") from None
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"page >= 1 and 1 <= per_page <= {MAX_PER_PAGE}")
        return cls(page, per_page)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def sql(self) -> str:
        """The LIMIT/OFFSET clause."""
        return f"LIMIT {self.per_page} OFFSET {self.offset}"

    def pages(self, total: int) -> int:
        """How many pages ``total`` rows make (at least one)."""
        return max(1, -(-total // self.per_page))


def page_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], order: str, page: Page
) -> tuple[list[dict[str, Any]], int]:
    """One page of ``sql``'s rows in ``order`` (which must be total, so pages neither repeat nor
    skip) and how many rows there are in all: one query (a window count) unless the page is empty."""
    cur = con.execute(
        f"SELECT *, count(*) OVER () AS serve_total FROM ({sql}) ORDER BY {order} {page.sql()}", params
    )
    names = [d[0] for d in cur.description]
    found = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if found:
        total = int(found[0]["serve_total"])
    else:
        row = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()
        total = int(row[0]) if row else 0
    for r in found:
        del r["serve_total"]
    return found, total
