"""Pages of every list the workbench shows: the same ``page`` and ``per_page`` parameters (and the
same previous/next links) as the alert inbox, computed in SQL with LIMIT/OFFSET and a count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    import duckdb

MAX_PER_PAGE = 500


@dataclass(frozen=True)
class Page:
    """Which page of a list: 1-based ``page`` of ``per_page`` rows."""

    page: int = 1
    per_page: int = 50

    @classmethod
    def parse(cls, params: dict[str, str], default: int = 50, prefix: str = "") -> Page:
        """From query parameters (``{prefix}page``, ``{prefix}per_page``: a page with several lists
        pages each by its own prefix); ValueError says what is wrong (answered 400)."""
        p, pp = f"{prefix}page", f"{prefix}per_page"
        try:
            page = int(params.get(p, "1"))
            per_page = int(params.get(pp, str(default)))
        except ValueError:
            raise ValueError(f"{p} and {pp} are whole numbers") from None
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"{p} >= 1 and 1 <= {pp} <= {MAX_PER_PAGE}")
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


@dataclass(frozen=True)
class Pages:
    """The pages of several lists on one page (a key's leaks, networks, probes...), each list paged
    by its own ``{name}_page`` and ``{name}_per_page`` parameters, so paging one keeps the others."""

    defaults: tuple[tuple[str, int], ...]
    chosen: tuple[tuple[str, Page], ...]

    @classmethod
    def parse(cls, params: dict[str, str], defaults: dict[str, int]) -> Pages:
        """From query parameters; ValueError names the parameter that is wrong."""
        chosen = tuple((n, Page.parse(params, d, prefix=f"{n}_")) for n, d in defaults.items())
        return cls(tuple(defaults.items()), chosen)

    @classmethod
    def first(cls, defaults: dict[str, int]) -> Pages:
        """Page 1 of every list."""
        return cls.parse({}, defaults)

    def __getitem__(self, name: str) -> Page:
        return dict(self.chosen)[name]

    def query(self, **change: int) -> dict[str, str]:
        """URL parameters for these pages, with ``change`` (list name -> page) applied, defaults left out."""
        default = dict(self.defaults)
        out: dict[str, str] = {}
        for name, pg in self.chosen:
            page = change.get(name, pg.page)
            if page != 1:
                out[f"{name}_page"] = str(page)
            if pg.per_page != default[name]:
                out[f"{name}_per_page"] = str(pg.per_page)
        return out

    def href(self, name: str, page: int) -> str:
        """The link to page ``page`` of list ``name``, the other lists' pages kept, at the list's anchor."""
        query = self.query(**{name: page})
        return ("?" + urlencode(query) if query else "?") + f"#{name}"

    def to_json(self, totals: dict[str, int]) -> dict[str, dict[str, int]]:
        """Per list: ``page``, ``per_page``, ``pages`` (how many pages its ``total`` makes)."""
        return {
            n: {"page": pg.page, "per_page": pg.per_page, "pages": pg.pages(totals[n])}
            for n, pg in self.chosen
        }
