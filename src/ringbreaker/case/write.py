"""Write case files to disk: DIR/<crew-id>/case.{json,html,stix.json}, plus DIR/index.html for --all."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringbreaker.case import load
from ringbreaker.case.build import build_case
from ringbreaker.case.html import CSP, render_html
from ringbreaker.case.stix import build_bundle
from ringbreaker.errors import ResourceError, UsageError
from ringbreaker.workspace import guarded

if TYPE_CHECKING:
    import duckdb

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Written:
    """One crew's written case: where it is and its headline figures."""

    crew_id: str
    name: str
    dir: Path
    summary: dict[str, Any]


def safe_dir_name(crew_id: str) -> str:
    """A crew id as a directory name: no separators or dot-dot, whatever attribute put in the id."""
    name = _SAFE.sub("_", crew_id).strip("._") or "crew"
    return name[:100]


def write_case(con: duckdb.DuckDBPyConnection, crew_id: str, out: Path, *, workspace: str = "") -> Written:
    """Build and write one crew's three files under ``out/<crew-id>/``."""
    case = build_case(con, crew_id, workspace=workspace)
    d = out / safe_dir_name(crew_id)
    d.mkdir(parents=True, exist_ok=True)
    (d / "case.json").write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (d / "case.html").write_text(render_html(case), encoding="utf-8")
    bundle = build_bundle(case)
    (d / "case.stix.json").write_text(bundle + "\n", encoding="utf-8")
    return Written(crew_id, case["crew"]["name"], d, case["summary"])


def write_cases(
    con: duckdb.DuckDBPyConnection, out: Path, crew_ids: list[str] | None = None, *, workspace: str = ""
) -> list[Written]:
    """Write the named crews' cases (all crews when None) and, for all or several, an index page."""
    try:
        with guarded(con, "case"):
            return _write_cases(con, out, crew_ids, workspace=workspace)
    except OSError as e:
        where = e.filename if e.filename is not None else out
        raise ResourceError(f"cannot write the case files: {e.strerror or e}", source=str(where)) from e


def _write_cases(
    con: duckdb.DuckDBPyConnection, out: Path, crew_ids: list[str] | None, *, workspace: str
) -> list[Written]:
    known = load.crew_ids(con)
    every = crew_ids is None
    if crew_ids is None:
        crew_ids = known
    else:
        missing = [c for c in crew_ids if c not in known]
        if missing:
            hint = ", ".join(known[:10]) or "none: run `ringbreaker attribute` first"
            raise UsageError(f"no crew {', '.join(missing)} in the workspace (crews: {hint})")
    written = [write_case(con, c, out, workspace=workspace) for c in crew_ids]
    if every or len(crew_ids) != 1:
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text(render_index(written), encoding="utf-8")
    return written


def render_index(written: list[Written]) -> str:
    """A small offline page linking every crew's case."""
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="{e(w.dir.name)}/case.html">{e(w.name)}</a></td><td>{e(w.crew_id)}</td>'
        f"<td>{w.summary['keys']}</td><td>{w.summary['creators'] + w.summary['providers']}</td>"
        f"<td>{w.summary['users']}</td><td>${w.summary['cost_usd_estimated']:,.2f}</td></tr>"
        for w in written
    )
    body = "<h1>Case files</h1>" + (
        "<table><thead><tr><th>Crew</th><th>Id</th><th>Stolen keys</th><th>Operators</th><th>Users</th>"
        f"<th>Estimated cost</th></tr></thead><tbody>{rows}</tbody></table>"
        if written
        else "<p>No crews in the workspace. Run <code>ringbreaker attribute</code> first.</p>"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        f"<title>ringbreaker case files</title></head><body>{body}</body></html>\n"
    )


__all__ = ["CSP", "Written", "render_index", "safe_dir_name", "write_case", "write_cases"]
